"""Fetching data-set files from their public mirrors, verified, into a folder.

Each file is checked against the size and SHA-256 of the official gzip file,
as downloaded: nothing is decompressed before it verifies (reading it later
decompresses no more than its IDX header and the data set promise,
xpnet.data.idx). Mirrors are HTTPS only, and so is every redirect. A download
streams into a temp file beside its destination, stops at the size the table
gives or when it falls below MIN_RATE, is verified, then renamed into place: a
failed, truncated, oversized, stalled or rejected download never leaves a file
behind. Tests replace `MIRRORS`, `SHA256` and `SIZES` entries to
serve small files from a local server over plain HTTP, which `PLAIN_HTTP_HOSTS`
allows for them.
"""
import hashlib
import http.client
import os
import time
import urllib.parse
import urllib.request

from tqdm import tqdm

from ..errors import XpnetError, shown
from ..io import atomic_write

# Base URLs tried in order; each holds "<file>.gz".
MIRRORS = {
    "mnist": ["https://ossci-datasets.s3.amazonaws.com/mnist/",
              "https://storage.googleapis.com/cvdf-datasets/mnist/"],
    "fashion-mnist": ["https://fashion-mnist.s3.eu-central-1.amazonaws.com/",  # the S3 bucket's HTTPS endpoint
                      "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"],
}

# SHA-256 and size in bytes of each official gzip file, as served.
SHA256 = {
    "mnist": {
        "train-images-idx3-ubyte": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
}
SIZES = {
    "mnist": {"train-images-idx3-ubyte": 9_912_422, "train-labels-idx1-ubyte": 28_881,
              "t10k-images-idx3-ubyte": 1_648_877, "t10k-labels-idx1-ubyte": 4_542},
    "fashion-mnist": {"train-images-idx3-ubyte": 26_421_880, "train-labels-idx1-ubyte": 29_515,
                      "t10k-images-idx3-ubyte": 4_422_102, "t10k-labels-idx1-ubyte": 5_148},
}
PLAIN_HTTP_HOSTS = ()  # hosts that may be fetched over http:// (tests: their local server, "127.0.0.1")

_CHUNK = 1 << 16
# A download slower on average than this, after a grace of GRACE_S seconds, is given up: a server that sends
# a byte now and then would otherwise hold the command for ever (the socket's timeout is per read).
MIN_RATE = 16 << 10  # bytes per second
GRACE_S = 30


class DownloadError(XpnetError, OSError):
    """A file could not be fetched or did not verify; the message names the URL and why."""


def _check_url(url):
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in PLAIN_HTTP_HOSTS):
        raise DownloadError(f"{url}: only https:// mirrors are used (a download must not be open to tampering)")


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to a URL a mirror could have (https://)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        _check_url(newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_opener = urllib.request.build_opener(_CheckedRedirects)


def _announced(url, resp):
    """The response's Content-Length as a number of bytes, or None when it gives none."""
    text = resp.headers.get("Content-Length")
    if not text:
        return None
    if not (text.strip().isascii() and text.strip().isdigit()):
        raise DownloadError(f"{url}: Content-Length {shown(text)} is not a number of bytes")
    return int(text) or None


def fetch(url, dest, sha256, progress=True, timeout=60, size=None, min_rate=None):
    """Download `url` to `dest` atomically, with a progress bar, checking the SHA-256 of the bytes as
    downloaded; with `size`, a download announcing or sending more bytes than that stops there, and any
    download falling below `min_rate` bytes a second on average (default MIN_RATE) after GRACE_S stops."""
    _check_url(url)
    min_rate = min_rate or MIN_RATE
    start = time.monotonic()
    try:
        with atomic_write(dest) as out:
            digest = hashlib.sha256()
            with _opener.open(url, timeout=timeout) as resp:
                total = _announced(url, resp)
                if size is not None and total is not None and total > size:
                    raise DownloadError(f"{url}: announces {total} bytes, expected {size}")
                received = 0
                with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                          desc=os.path.basename(dest), disable=not progress) as bar:
                    while chunk := resp.read1(_CHUNK):  # whatever has arrived: the rate is checked as it comes
                        received += len(chunk)
                        if size is not None and received > size:
                            raise DownloadError(f"{url}: sent more than the {size} bytes expected")
                        elapsed = time.monotonic() - start
                        if elapsed > GRACE_S and received < min_rate * elapsed:
                            raise DownloadError(f"{url}: {received:,} bytes in {elapsed:.0f} s, slower than "
                                                f"{min_rate:,} bytes a second: given up")
                        out.write(chunk)
                        digest.update(chunk)
                        bar.update(len(chunk))
            if total is not None and received != total:
                raise DownloadError(f"{url}: truncated download, received {received} of {total} bytes")
            if digest.hexdigest() != sha256:
                raise DownloadError(f"{url}: checksum mismatch, the file has SHA-256 {digest.hexdigest()}, "
                                    f"expected {sha256}")
    except DownloadError:
        raise
    except (OSError, http.client.HTTPException) as exc:
        raise DownloadError(f"{url}: {exc}") from exc
    return dest


def download(name, bases, folder, progress=True):
    """Fetch `<base>.gz` for each base name of data set `name` into `folder`, trying each mirror in turn.

    Raises DownloadError listing every mirror's failure when one file cannot be had.
    """
    paths = []
    for base in bases:
        file = base + ".gz"
        errors = []
        for mirror in MIRRORS[name]:
            try:
                paths.append(fetch(mirror.rstrip("/") + "/" + file, os.path.join(folder, file),
                                   SHA256[name][base], progress, size=SIZES.get(name, {}).get(base)))
                break
            except DownloadError as exc:
                errors.append(str(exc))
        else:
            raise DownloadError(f"could not download {file} from any mirror: " + "; ".join(errors))
    return paths
