"""Fetching data-set files from their public mirrors, verified, into a folder.

Each file is checked against the SHA-256 of its decompressed contents. The
mirrors serve the official gzip files, and re-compressed copies (such as
Debian's Fashion-MNIST package) hold the same bytes once decompressed, so one
table verifies both. A download streams into a temp file beside its
destination, is verified, then renamed into place: a failed, truncated or
rejected download never leaves a file behind. Tests replace `MIRRORS` and
`SHA256` entries to serve small files from a local server.
"""
import hashlib
import http.client
import os
import urllib.request

from tqdm import tqdm

from ..io import atomic_write
from .idx import DataError, read_bytes

# Base URLs tried in order; each holds "<file>.gz".
MIRRORS = {
    "mnist": ["https://ossci-datasets.s3.amazonaws.com/mnist/",
              "https://storage.googleapis.com/cvdf-datasets/mnist/"],
    "fashion-mnist": ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
}

# SHA-256 of each file's decompressed contents (computed from the official files).
SHA256 = {
    "mnist": {
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
}

_CHUNK = 1 << 16


class DownloadError(OSError):
    """A file could not be fetched or did not verify; the message names the URL and why."""


def content_sha256(path):
    """SHA-256 hex digest of the file's contents after decompressing (raises DataError if corrupt)."""
    return hashlib.sha256(read_bytes(path)).hexdigest()


def fetch(url, dest, sha256, progress=True, timeout=60):
    """Download `url` to `dest` atomically, with a progress bar, checking the contents' SHA-256."""
    try:
        with atomic_write(dest) as out:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                total = int(resp.headers.get("Content-Length") or 0) or None
                received = 0
                with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                          desc=os.path.basename(dest), disable=not progress) as bar:
                    while chunk := resp.read(_CHUNK):
                        out.write(chunk)
                        received += len(chunk)
                        bar.update(len(chunk))
            if total is not None and received != total:
                raise DownloadError(f"{url}: truncated download, received {received} of {total} bytes")
            out.flush()
            digest = content_sha256(out.name)
            if digest != sha256:
                raise DownloadError(f"{url}: checksum mismatch, contents have SHA-256 {digest}, expected {sha256}")
    except DownloadError:
        raise
    except (OSError, http.client.HTTPException, DataError) as exc:
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
                                   SHA256[name][base], progress))
                break
            except DownloadError as exc:
                errors.append(str(exc))
        else:
            raise DownloadError(f"could not download {file} from any mirror: " + "; ".join(errors))
    return paths
