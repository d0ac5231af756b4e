"""IDX reading and writing: round trips, and a clear DataError for every kind of bad file."""
import gzip
import os
import re
import struct

import numpy as np
import pytest
from util import traced_peak

from xpnet.data.idx import DataError, read_idx, write_idx


@pytest.mark.parametrize("name", ["images.gz", "images"])
def test_round_trip(tmp_path, rng, name):
    a = rng.integers(0, 256, size=(4, 3, 2), dtype=np.uint8)
    path = tmp_path / name
    write_idx(path, a)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")
    b = read_idx(path, ndim=3)
    assert b.dtype == np.uint8 and b.shape == (4, 3, 2)
    np.testing.assert_array_equal(a, b)
    b[0, 0, 0] = 7  # the array is the caller's own, not a view of read-only bytes


def test_gzip_is_recognised_by_content_not_name(tmp_path):
    path = tmp_path / "labels"
    write_idx(path, np.arange(5, dtype=np.uint8), compress=True)
    np.testing.assert_array_equal(read_idx(path, ndim=1), np.arange(5))


def test_header_is_big_endian_and_exact(tmp_path):
    path = tmp_path / "x"
    write_idx(path, np.zeros((2, 3), np.uint8))
    assert path.read_bytes() == struct.pack(">BBBBII", 0, 0, 8, 2, 2, 3) + bytes(6)


def _raw(tmp_path, data):
    path = tmp_path / "bad-idx"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("data, message", [
    (b"", "not an IDX file"),
    (b"\x01\x02\x08\x01\0\0\0\x01x", "not an IDX file"),
    (struct.pack(">BBBBI", 0, 0, 0x0D, 1, 1) + bytes(4), "element type 0x0d"),
    (struct.pack(">BBBB", 0, 0, 8, 3) + bytes(4), "truncated IDX header"),
    (struct.pack(">BBBBI", 0, 0, 8, 1, 10) + bytes(3), "expected 10 bytes of data for shape (10,), found 3"),
    (struct.pack(">BBBBI", 0, 0, 8, 1, 2) + bytes(5), "expected 2 bytes of data for shape (2,), found 5"),
])
def test_bad_files_name_path_and_problem(tmp_path, data, message):
    path = _raw(tmp_path, data)
    with pytest.raises(DataError, match="bad-idx") as info:
        read_idx(path)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


def test_wrong_kind_of_file(tmp_path):
    path = tmp_path / "labels.gz"
    write_idx(path, np.zeros(3, np.uint8))
    with pytest.raises(DataError, match=r"expected 3 dimension\(s\) for image data, found 1"):
        read_idx(path, ndim=3, what="image data")


def test_truncated_payload_reports_sizes(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    data = struct.pack(">BBBBIII", 0, 0, 8, 3, 60000, 28, 28) + bytes(1000)
    path.write_bytes(data)
    with pytest.raises(DataError, match=f"{re.escape(str(path))}: expected 47040000 bytes of image data .* found 1000"):
        read_idx(path, ndim=3, what="image data")


def test_truncated_gzip_is_a_data_error(tmp_path):
    path = tmp_path / "t.gz"
    path.write_bytes(gzip.compress(struct.pack(">BBBBI", 0, 0, 8, 1, 1000) + os.urandom(1000))[:200])
    with pytest.raises(DataError, match="corrupt or truncated gzip"):
        read_idx(path)


def test_write_idx_rejects_non_uint8(tmp_path):
    with pytest.raises(ValueError, match="uint8"):
        write_idx(tmp_path / "x", np.zeros(3, np.float32))
    assert not os.listdir(tmp_path)



@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_reading_closes_the_file(tmp_path, rng, name):
    import gc
    import warnings
    write_idx(tmp_path / name, rng.integers(0, 256, (3, 2, 2), dtype=np.uint8))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always", ResourceWarning)
        read_idx(tmp_path / name)
        with pytest.raises(DataError):
            read_idx(tmp_path / name, ndim=1)
        gc.collect()
    assert not [w for w in seen if issubclass(w.category, ResourceWarning)]


def _gz_idx(shape, payload):
    """A .gz whose IDX header announces `shape`, followed by the bytes `payload`."""
    header = struct.pack(f">BBBB{len(shape)}I", 0, 0, 8, len(shape), *shape)
    return gzip.compress(header + payload, compresslevel=9, mtime=0)



@pytest.mark.parametrize("zeros, noise, found", [
    (32 << 20, 64 << 10, "found 33619968"),  # short, though the noise makes it no more than the .gz could hold
    ((64 << 20) + 1, 0, "found more than 67108864"),
], ids=["short", "long"])
def test_a_header_far_larger_than_its_gzip_allocates_nothing_before_the_data_is_there(tmp_path, zeros, noise, found):
    path = tmp_path / "bomb.gz"
    path.write_bytes(_gz_idx((64, 1024, 1024), bytes(zeros) + os.urandom(noise)))
    errors = []
    peak = traced_peak(lambda: errors.append(pytest.raises(DataError, read_idx, path)))
    assert f"bomb.gz: expected 67108864 bytes of data for shape (64, 1024, 1024), {found}" in str(errors[0].value)
    assert peak < 8 << 20  # the 64 MiB the header announces are never allocated


def test_a_file_that_compresses_far_better_than_real_data_still_reads(tmp_path):
    a = np.zeros((64, 128, 128), np.uint8)
    a[-1, -1, -1] = 9
    write_idx(tmp_path / "zeros.gz", a)
    assert (tmp_path / "zeros.gz").stat().st_size * 100 < a.size
    np.testing.assert_array_equal(read_idx(tmp_path / "zeros.gz"), a)


def test_running_out_of_memory_names_the_file_and_shape(tmp_path, monkeypatch):
    import types
    from xpnet.data import idx
    write_idx(tmp_path / "a.gz", np.zeros((2, 5), np.uint8))

    def no_memory(*args, **kwargs):
        raise MemoryError
    monkeypatch.setattr(idx, "host", types.SimpleNamespace(uint8=np.uint8, empty=no_memory))
    with pytest.raises(MemoryError, match=r"a.gz: data of shape \(2, 5\) needs 10 bytes of memory"):
        read_idx(tmp_path / "a.gz")
