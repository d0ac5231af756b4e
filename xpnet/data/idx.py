"""The IDX file format of MNIST and Fashion-MNIST, gzip-compressed or raw.

An IDX file is a 4-byte magic number (two zero bytes, an element-type byte,
the number of dimensions), one big-endian uint32 per dimension, then the
elements in C order. Only unsigned bytes (type 0x08) are used by these data
sets, so only they are accepted. Every check names the file and what is wrong,
so a truncated download or a swapped file is told apart from a bug.
"""
import gzip
import math
import struct
import zlib

import numpy as host  # host-side file IO: the data is read on the host, moved to the backend later

from ..errors import DataError
from ..io import write_bytes

UBYTE = 0x08


def read_bytes(path):
    """The (decompressed) contents of `path`; gzip is recognised by its magic bytes, not the name."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as exc:
        raise DataError(f"{path}: corrupt or truncated gzip file ({exc}); delete it and download it again") from exc


def read_idx(path, ndim=None, what="data"):
    """Read an unsigned-byte IDX file into a NumPy uint8 array.

    `ndim`, when given, is the number of dimensions the caller expects (3 for
    images, 1 for labels), which catches a labels file given for images.
    `what` names the contents in error messages ("image data").
    """
    data = read_bytes(path)
    if len(data) < 4 or data[:2] != b"\0\0":
        raise DataError(f"{path}: not an IDX file (magic number {data[:4].hex() or 'missing'}, "
                        "expected 0x000008dd)")
    kind, dims_count = data[2], data[3]
    if kind != UBYTE:
        raise DataError(f"{path}: IDX element type 0x{kind:02x} is not supported, expected 0x08 (unsigned byte)")
    if dims_count == 0 or (ndim is not None and dims_count != ndim):
        expected = f"{ndim}" if ndim is not None else "at least 1"
        raise DataError(f"{path}: expected {expected} dimension(s) for {what}, found {dims_count}; "
                        "is this the right file?")
    header = 4 + 4 * dims_count
    if len(data) < header:
        raise DataError(f"{path}: truncated IDX header: expected {header} bytes, found {len(data)}")
    shape = struct.unpack(f">{dims_count}I", data[4:header])
    expected = math.prod(shape)
    if len(data) - header != expected:
        raise DataError(f"{path}: expected {expected} bytes of {what} for shape {shape}, "
                        f"found {len(data) - header}")
    return host.frombuffer(data, dtype=host.uint8, offset=header).reshape(shape).copy()


def write_idx(path, array, compress=None):
    """Write a uint8 array as an IDX file, gzip-compressed when `compress` (default: name ends in .gz).

    Written atomically (see `xpnet.io`), so a reader never sees half a file. Useful for subsets and for tests.
    """
    array = host.asarray(array)
    if array.dtype != host.uint8 or not 1 <= array.ndim <= 255:
        raise ValueError(f"write_idx: expected a uint8 array with 1 to 255 dimensions, "
                         f"got {array.dtype} with {array.ndim}")
    payload = struct.pack(f">BBBB{array.ndim}I", 0, 0, UBYTE, array.ndim, *array.shape) + array.tobytes()
    if compress is None:
        compress = str(path).endswith(".gz")
    if compress:
        payload = gzip.compress(payload, mtime=0)
    write_bytes(path, payload)
