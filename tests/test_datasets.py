"""Finding, loading and downloading data sets, with small synthetic IDX files and a local HTTP server only."""
import gzip
import hashlib
import http.server
import os
import threading
import time

import numpy as np
import pytest
from util import traced_peak

from xpnet.data import (FILES, DataError, DataNotFoundError, DownloadError, cache_dir, load_dataset, where,
                        write_idx)
from xpnet.data import download as downloads


@pytest.fixture
def env(tmp_path, monkeypatch):
    """No XPNET_DATA, no offline flag, and a cache under tmp_path."""
    for var in ("XPNET_DATA", "XPNET_OFFLINE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XPNET_CACHE", str(tmp_path / "cache"))
    return tmp_path


def make_split(folder, split="train", n=5, gz=True, seed=0, labels=None, image_shape=(28, 28)):
    """Write a synthetic split into `folder`; return (images, labels)."""
    r = np.random.default_rng(seed)
    images = r.integers(0, 256, size=(n, *image_shape), dtype=np.uint8)
    labels = r.integers(0, 10, size=n, dtype=np.uint8) if labels is None else np.asarray(labels, np.uint8)
    os.makedirs(folder, exist_ok=True)
    suffix = ".gz" if gz else ""
    for base, array in zip(FILES[split], (images, labels)):
        write_idx(os.path.join(folder, base + suffix), array)
    return images, labels


def test_root_holding_files_uncompressed(env):
    images, labels = make_split(env / "flat", "test", gz=False)
    x, y = load_dataset("mnist", "test", root=env / "flat", download=False)
    assert x.dtype == np.uint8 and x.shape == (5, 28, 28) and y.dtype == np.int64
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)


def test_lookup_order(env, monkeypatch):
    root_images, _ = make_split(env / "root" / "mnist", seed=1)
    data_images, _ = make_split(env / "data" / "mnist", seed=2)
    cache_images, _ = make_split(cache_dir("mnist"), seed=3)
    monkeypatch.setenv("XPNET_DATA", str(env / "data"))
    np.testing.assert_array_equal(load_dataset("mnist", root=env / "root", download=False)[0], root_images)
    np.testing.assert_array_equal(load_dataset("mnist", download=False)[0], data_images)
    monkeypatch.delenv("XPNET_DATA")
    np.testing.assert_array_equal(load_dataset("MNIST", download=False)[0], cache_images)


def test_cache_dir_follows_xdg(env, monkeypatch):
    monkeypatch.delenv("XPNET_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(env / "xdg"))
    assert cache_dir("fashion_mnist") == str(env / "xdg" / "xpnet" / "fashion-mnist")


def test_where_needs_both_splits_unless_asked(env):
    make_split(env / "d", "train")
    assert where("mnist", root=env / "d", split="train") == str(env / "d")
    assert where("mnist", root=env / "d") is None
    make_split(env / "d", "test")
    assert where("mnist", root=env / "d") == str(env / "d")


def test_unknown_names():
    with pytest.raises(ValueError, match="unknown data set 'cifar': expected one of mnist, fashion-mnist"):
        load_dataset("cifar")
    with pytest.raises(ValueError, match="unknown split 'val'"):
        load_dataset("mnist", "val")


def test_count_mismatch(env):
    make_split(env / "d", n=5)
    write_idx(env / "d" / "train-labels-idx1-ubyte.gz", np.zeros(4, np.uint8))
    with pytest.raises(DataError, match="5 images .* but 4 labels"):
        load_dataset("mnist", root=env / "d", download=False)


def test_wrong_image_size_and_label_range(env):
    make_split(env / "a", image_shape=(28, 27))
    with pytest.raises(DataError, match=r"shape \(28, 28\) per item, found \(28, 27\)"):
        load_dataset("mnist", root=env / "a", download=False)
    make_split(env / "b", labels=[0, 1, 10, 2, 3])
    with pytest.raises(DataError, match="label 10 is out of range"):
        load_dataset("mnist", root=env / "b", download=False)


@pytest.mark.parametrize("how", ["download=False", "XPNET_OFFLINE"])
def test_not_found_says_what_to_put_where(env, monkeypatch, how):
    if how == "XPNET_OFFLINE":
        monkeypatch.setenv("XPNET_OFFLINE", "1")
    with pytest.raises(DataNotFoundError) as info:
        load_dataset("mnist", "test", download=how != "download=False")
    msg = str(info.value)
    assert "t10k-images-idx3-ubyte.gz" in msg and "t10k-labels-idx1-ubyte.gz" in msg
    assert cache_dir("mnist") in msg and "XPNET_DATA" in msg
    assert isinstance(info.value, FileNotFoundError)
    assert not os.path.exists(cache_dir("mnist"))


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_real_files(data_root, name):
    if not os.path.isdir(os.path.join(data_root, name)):
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but XPNET_DATA has no {name}/")
        pytest.skip(f"XPNET_DATA has no {name}/")
    for split, n in (("train", 60000), ("test", 10000)):
        x, y = load_dataset(name, split, root=data_root, download=False)
        assert x.shape == (n, 28, 28) and x.dtype == np.uint8 and y.shape == (n,)
        assert y.min() == 0 and y.max() == 9 and len(np.unique(y)) == 10


# --- downloading, from a local server only ------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.requests.append(self.path)
        if self.server.redirect_to is not None:
            self.send_response(302)
            self.send_header("Location", self.server.redirect_to + self.path)
            self.end_headers()
            return
        if self.path not in self.server.files:
            self.send_error(404)
            return
        body = self.server.files[self.path]
        self.send_response(200)
        self.send_header("Content-Length", self.server.length or str(len(body)))
        self.end_headers()
        if self.server.drip:  # a byte at a time, slowly
            try:
                for i in range(len(body)):
                    self.wfile.write(body[i:i + 1])
                    self.wfile.flush()
                    time.sleep(0.02)
            except OSError:  # the client gave up
                pass
            return
        self.wfile.write(body[:len(body) // 2] if self.server.truncate else body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.files, srv.requests, srv.truncate = {}, [], False
    srv.redirect_to = srv.length = None  # a URL every request is sent on to; a Content-Length to announce
    srv.drip = False
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def mirror(env, server, monkeypatch):
    """Serve a synthetic mnist train split at mirror b/ (a/ is empty); the checksum and size tables match it,
    and plain HTTP is allowed for the local server."""
    src = env / "src"
    images, labels = make_split(src, "train", seed=7)
    table, sizes = {}, {}
    for base in FILES["train"]:
        data = (src / (base + ".gz")).read_bytes()
        server.files[f"/b/{base}.gz"] = data
        table[base], sizes[base] = hashlib.sha256(data).hexdigest(), len(data)
    monkeypatch.setitem(downloads.MIRRORS, "mnist", [server.url + "/a/", server.url + "/b"])
    monkeypatch.setitem(downloads.SHA256, "mnist", table)
    monkeypatch.setitem(downloads.SIZES, "mnist", sizes)
    monkeypatch.setattr(downloads, "PLAIN_HTTP_HOSTS", ("127.0.0.1",))
    server.images, server.labels = images, labels
    return server


def test_download_second_mirror_after_404(mirror):
    x, y = load_dataset("mnist", "train")
    np.testing.assert_array_equal(x, mirror.images)
    np.testing.assert_array_equal(y, mirror.labels)
    assert mirror.requests == ["/a/train-images-idx3-ubyte.gz", "/b/train-images-idx3-ubyte.gz",
                               "/a/train-labels-idx1-ubyte.gz", "/b/train-labels-idx1-ubyte.gz"]
    assert sorted(os.listdir(cache_dir("mnist"))) == sorted(b + ".gz" for b in FILES["train"])
    load_dataset("mnist", "train")
    assert len(mirror.requests) == 4  # found in the cache the second time


def test_fetch_with_progress_bar(mirror, env, capsys):
    dest = env / "out" / "labels.gz"
    base = FILES["train"][1]
    downloads.fetch(f"{mirror.url}/b/{base}.gz", str(dest), downloads.SHA256["mnist"][base], progress=True)
    assert dest.read_bytes() == mirror.files[f"/b/{base}.gz"]
    assert "labels.gz" in capsys.readouterr().err
    assert os.listdir(env / "out") == ["labels.gz"]


def _assert_failed_cleanly(match, tried=True):
    """load_dataset raises DataNotFoundError matching `match` (caused by a DownloadError if `tried`), cache empty."""
    with pytest.raises(DataNotFoundError, match=match) as info:
        load_dataset("mnist", "train", progress=False)
    assert isinstance(info.value.__cause__, DownloadError) == tried
    folder = cache_dir("mnist")
    assert not os.path.exists(folder) or os.listdir(folder) == []


def test_checksum_mismatch_leaves_nothing(mirror, monkeypatch):
    monkeypatch.setitem(downloads.SHA256["mnist"], FILES["train"][0], "0" * 64)
    _assert_failed_cleanly("checksum mismatch")


def test_truncated_download_leaves_nothing(mirror):
    mirror.truncate = True
    _assert_failed_cleanly("truncated download, received")


def test_truncated_gzip_served_whole_is_rejected(mirror):
    path = f"/b/{FILES['train'][0]}.gz"
    mirror.files[path] = mirror.files[path][:100]
    _assert_failed_cleanly("checksum mismatch, the file has SHA-256")


def test_all_mirrors_fail_lists_each(mirror):
    mirror.files.clear()
    _assert_failed_cleanly(r"(?s)/a/train-images-idx3-ubyte.gz: HTTP Error 404.*/b/train-images-idx3-ubyte.gz")


def test_offline_never_contacts_a_mirror(mirror, monkeypatch):
    monkeypatch.setenv("XPNET_OFFLINE", "1")
    _assert_failed_cleanly("XPNET_OFFLINE", tried=False)
    assert mirror.requests == []


def _bomb(header_shape, payload_bytes):
    """A .gz whose IDX header announces `header_shape` and which decompresses to `payload_bytes` zero bytes
    after it (a gzip bomb when that is far more than announced)."""
    import struct
    header = struct.pack(f">BBBB{len(header_shape)}I", 0, 0, 8, len(header_shape), *header_shape)
    return gzip.compress(header + bytes(payload_bytes), compresslevel=9, mtime=0)



def test_a_gzip_bomb_decompresses_no_more_than_its_header_announces(env):
    make_split(env / "d", n=5)
    (env / "d" / "train-images-idx3-ubyte.gz").write_bytes(_bomb((5, 28, 28), 64 << 20))
    errors = []
    peak = traced_peak(lambda: errors.append(pytest.raises(DataError, load_dataset, "mnist", root=env / "d",
                                                     download=False)))
    assert "expected 3920 bytes of MNIST image data for shape (5, 28, 28), found more than 3920" in str(
        errors[0].value)
    assert peak < 8 << 20


def test_the_data_set_promise_bounds_what_a_header_may_announce(env):
    make_split(env / "d", n=5)
    (env / "d" / "train-images-idx3-ubyte.gz").write_bytes(_bomb((4_000_000, 28, 28), 0))
    with pytest.raises(DataError, match=r"announces 4,000,000 items of MNIST image data, expected at most 60,000"):
        load_dataset("mnist", root=env / "d", download=False)
    from xpnet.data import read_idx
    (env / "other.gz").write_bytes(_bomb((100_000, 100_000), 0))
    with pytest.raises(DataError, match=r"announces 10,000,000,000 bytes of data for shape \(100000, 100000\), "
                                        r"more than a [0-9,]+-byte gzip file can hold"):
        read_idx(env / "other.gz")


def test_an_empty_split_is_a_data_error(env):
    make_split(env / "d", n=0)
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz: holds no images"):
        load_dataset("mnist", root=env / "d", download=False)


def test_the_download_is_verified_on_the_compressed_bytes_without_decompressing(mirror):
    path = f"/b/{FILES['train'][0]}.gz"
    mirror.files[path] = _bomb((5, 28, 28), 64 << 20)
    downloads.SIZES["mnist"][FILES["train"][0]] = len(mirror.files[path])
    peak = traced_peak(lambda: _assert_failed_cleanly("checksum mismatch, the file has SHA-256"))
    assert peak < 8 << 20


def test_a_download_larger_than_the_official_file_is_cut_off(mirror):
    downloads.SIZES["mnist"][FILES["train"][0]] = 100
    _assert_failed_cleanly("announces [0-9]+ bytes, expected 100")


def test_a_content_length_that_is_no_number_is_the_mirrors_failure(mirror):
    mirror.length = "abc"
    _assert_failed_cleanly(r"train-images-idx3-ubyte.gz: Content-Length 'abc' is not a number of bytes")


def test_a_redirect_to_plain_http_is_not_followed(mirror):
    mirror.redirect_to = f"http://localhost:{mirror.server_address[1]}"  # plain HTTP, and not the allowed host
    _assert_failed_cleanly(r"http://localhost:[0-9]+/b/train-images-idx3-ubyte.gz: only https:// mirrors are used")
    assert all(path.startswith("/a/") or path.startswith("/b/") for path in mirror.requests)
    assert len(mirror.requests) == 2  # each mirror asked once; the redirect itself never requested


def test_a_download_that_trickles_is_given_up(mirror, monkeypatch):
    monkeypatch.setattr(downloads, "GRACE_S", 0.3)
    mirror.drip = True
    start = time.monotonic()
    _assert_failed_cleanly(r"bytes in 0 s, slower than 16,384 bytes a second: given up")
    assert time.monotonic() - start < 5


def test_mirrors_are_https_only():
    assert all(url.startswith("https://") for urls in downloads.MIRRORS.values() for url in urls)


def test_plain_http_is_refused_unless_allowed_for_a_test_server(mirror, monkeypatch):
    monkeypatch.setattr(downloads, "PLAIN_HTTP_HOSTS", ())
    _assert_failed_cleanly("only https:// mirrors are used")
    assert mirror.requests == []
