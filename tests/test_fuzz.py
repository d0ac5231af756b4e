"""Property-based fuzzing: model files, pictures and IDX files from a stranger, mutated at random, each
either load correctly or raise xpnet's own error, with bounded memory.

Hypothesis runs derandomized (the same examples on every run, so the suite is reproducible) without an
example database; `FUZZ_EXAMPLES` raises the count for a longer local search. The deadline is a hang
detector, far above the milliseconds an example takes, not a speed assertion.
"""
import functools
import gzip
import io
import json
import os
import struct
import tracemalloc
import zlib
from datetime import timedelta

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from xpnet.data.idx import read_idx  # noqa: E402
from xpnet.errors import XpnetError  # noqa: E402
from xpnet.models import get_model  # noqa: E402
from xpnet.train import describe, load_model, save_weights  # noqa: E402

FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", 60)), derandomize=True, database=None,
                deadline=timedelta(seconds=20), suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                       HealthCheck.too_slow])
BUDGET = 64 << 20  # traced bytes one example may peak at: ample for these kilobyte-sized inputs


def _bounded(call):
    """call()'s result, or the XpnetError it raised; any other exception fails; so does a traced peak above
    BUDGET (NumPy's arrays are traced)."""
    tracemalloc.start()
    try:
        try:
            result = call()
        except XpnetError as exc:
            result = exc
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= BUDGET, f"peaked at {peak:,} bytes"
    hypothesis.event(type(result).__name__)  # --hypothesis-show-statistics: how often each outcome came
    return result


def _write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return path


# -- model files ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """The bytes of a genuine small model file, with xpnet's metadata."""
    path = tmp_path_factory.mktemp("fuzz") / "model.safetensors"
    save_weights(path, get_model("mlp", hidden=(8,)), describe("mlp", {"hidden": [8]}, "mnist"))
    return path.read_bytes()


def _split(data):
    (length,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + length]), data[8 + length:]


def _join(header, body):
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + body


JSON = st.recursive(st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70) | st.floats() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
                    max_leaves=30)
METADATA_VALUES = (st.sampled_from(["mlp", "lenet5", "fc_net", "nothing", "mnist", "fashion-mnist", "{}", "[]",
                                    '{"hidden": [8]}', '{"hidden": [1000000000, 100]}', '{"evil": 1}',
                                    '{"mean": [NaN], "std": [Infinity], "channels": 1, "image_size": [28, 28]}',
                                    '["a", "b"]', "\x1b[31mred", "[" * 50])
                   | st.text(max_size=40) | JSON.map(json.dumps))


@given(key=st.sampled_from(["model", "model_kwargs", "dataset", "classes", "preprocessing", "xpnet_version", "x"]),
       value=METADATA_VALUES)
@FUZZ
def test_mutated_metadata_loads_or_is_a_model_file_error(model_file, tmp_path, key, value):
    header, body = _split(model_file)
    header["__metadata__"][key] = value
    _bounded(lambda: load_model(_write(tmp_path, "m.safetensors", _join(header, body))))


@given(tensor=st.sampled_from(["0.weight", "0.bias", "2.weight", "__metadata__"]),
       field=st.sampled_from(["dtype", "shape", "data_offsets", None]), value=JSON)
@FUZZ
def test_mutated_header_entries_load_or_are_a_model_file_error(model_file, tmp_path, tensor, field, value):
    header, body = _split(model_file)
    if field is None or not isinstance(header.get(tensor), dict):
        header[tensor] = value
    else:
        header[tensor][field] = value
    _bounded(lambda: load_model(_write(tmp_path, "m.safetensors", _join(header, body))))


@given(edits=st.lists(st.tuples(st.integers(0, 10 ** 6), st.integers(0, 255)), max_size=6),
       cut=st.none() | st.integers(0, 10 ** 6))
@FUZZ
def test_flipped_and_truncated_bytes_load_or_are_a_model_file_error(model_file, tmp_path, edits, cut):
    data = bytearray(model_file)
    for at, byte in edits:
        data[at % len(data)] = byte
    if cut is not None:
        data = data[:cut % len(data)]
    result = _bounded(lambda: load_model(_write(tmp_path, "m.safetensors", bytes(data))))
    if not isinstance(result, XpnetError):  # loaded: the edits hit only weight values, the model is the file's
        header, _ = _split(model_file)
        assert sorted(result.state_dict()) == sorted(k for k in header if k != "__metadata__")


# -- pictures ----------------------------------------------------------------------------------------
MODES = {"L": ("PNG", "uint8"), "RGB": ("PNG", "uint8"), "RGBA": ("PNG", "uint8"), "I;16": ("PNG", "uint16"),
         "I": ("TIFF", "int32"), "F": ("TIFF", "float32"), "1": ("BMP", "bool"), "P": ("GIF", "uint8"),
         "LA": ("PNG", "uint8")}


@st.composite
def pictures(draw):
    """(encoded bytes, whether it must be refused) of a small picture of any mode, pixels anything the mode holds (NaN and inf for F),
    sometimes with bytes flipped or cut."""
    from PIL import Image

    mode = draw(st.sampled_from(sorted(MODES)))
    fmt, dtype = MODES[mode]
    h, w = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    bands = {"RGB": 3, "RGBA": 4, "LA": 2}.get(mode, 1)
    if dtype == "float32":
        values = draw(st.lists(st.floats(width=32), min_size=h * w, max_size=h * w))
        pixels = np.array(values, np.float32).reshape(h, w)
    else:
        seed = draw(st.integers(0, 2 ** 32 - 1))
        top = {"bool": 2, "uint8": 256, "uint16": 65536, "int32": 2 ** 31}[dtype]
        pixels = np.random.default_rng(seed).integers(0, top, (h, w, bands) if bands > 1 else (h, w))
    if mode == "1":
        picture = Image.fromarray((pixels > 0).astype(np.uint8) * 255).convert("1")
    elif mode == "P":
        picture = Image.fromarray(pixels.astype(np.uint8)).convert("P")
    elif mode == "I;16":
        picture = Image.fromarray(pixels.astype(np.uint16))
    elif mode == "I":
        picture = Image.fromarray(pixels.astype(np.int32))
    else:
        picture = Image.fromarray(pixels.astype(dtype), mode if bands > 1 or mode == "F" else None)
    buffer = io.BytesIO()
    picture.save(buffer, fmt)
    data = bytearray(buffer.getvalue())
    edits = draw(st.lists(st.tuples(st.integers(0, 10 ** 6), st.integers(0, 255)), max_size=3))
    for at, byte in edits:
        data[at % len(data)] = byte
    return bytes(data), mode == "F" and not edits and not np.isfinite(pixels).all()


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns of the damage it skips
@given(picture=pictures())
@FUZZ
def test_odd_pictures_frame_or_are_an_image_error(tmp_path, picture):
    pytest.importorskip("PIL")
    from xpnet.data.images import load_picture

    data, refused = picture
    result = _bounded(lambda: load_picture(_write(tmp_path, "p.img", data)))
    if not isinstance(result, XpnetError):
        assert not refused, "a float picture with NaN or infinite pixels was framed"
        assert result.shape == (28, 28) and result.dtype == np.uint8


# -- IDX files -----------------------------------------------------------------------------------------
@st.composite
def idx_files(draw):
    """Bytes of an IDX file: a header of any type byte and up to 4 dimensions (real or absurd sizes), a body
    that may be short, long or right, raw or gzip (sometimes a body far longer than the header says)."""
    dims = draw(st.lists(st.integers(0, 2 ** 32 - 1) | st.integers(0, 30), min_size=0, max_size=4))
    kind = draw(st.sampled_from([0x08, 0x08, 0x09, 0x0D, 0xFF]))
    magic = draw(st.sampled_from([b"\0\0", b"\0\0", b"\x1f\x8b", b"PK"]))
    header = magic + bytes([kind, draw(st.integers(0, 255)) if draw(st.booleans()) else len(dims)])
    header += b"".join(struct.pack(">I", d) for d in dims)
    want = int(np.prod(dims, dtype=object)) if dims else 0
    length = draw(st.sampled_from([min(want, 5000), 0, 7, 5000]))
    body = bytes(np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1))).integers(0, 256, length, dtype=np.uint8))
    data = header + body
    if draw(st.booleans()):
        return gzip.compress(data) + (_bomb() if draw(st.booleans()) else b"")
    return data


@functools.cache
def _bomb(mib=256):
    """A further gzip member: `mib` MiB of zeros in about `mib` KB, compressed a MiB at a time."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: gzip framing
    zeros = bytes(1 << 20)
    return b"".join(packer.compress(zeros) for _ in range(mib)) + packer.flush()


@given(data=idx_files(), ndim=st.none() | st.integers(1, 3), promise=st.booleans())
@FUZZ
def test_odd_idx_files_read_or_are_a_data_error(tmp_path, data, ndim, promise):
    path = _write(tmp_path, "f.idx.gz", data)
    limits = {"max_items": 100, "item_shape": (5, 6)} if promise else {}
    result = _bounded(lambda: read_idx(path, ndim=ndim, **limits))
    if not isinstance(result, XpnetError):
        assert result.dtype == np.uint8 and (ndim is None or result.ndim == ndim)
        if promise:
            assert len(result) <= 100 and result.shape[1:] == (5, 6)
