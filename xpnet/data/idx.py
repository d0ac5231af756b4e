"""The IDX file format of MNIST and Fashion-MNIST, gzip-compressed or raw.

An IDX file is a 4-byte magic number (two zero bytes, an element-type byte,
the number of dimensions), one big-endian uint32 per dimension, then the
elements in C order. Only unsigned bytes (type 0x08) are used by these data
sets, so only they are accepted. Every check names the file and what is wrong,
so a truncated download or a swapped file is told apart from a bug.
"""
import contextlib
import gzip
import math
import os
import struct
import zlib

import numpy as host  # host-side file IO: the data is read on the host, moved to the backend later

from ..errors import DataError
from ..io import write_bytes

UBYTE = 0x08


GZIP_MAX_RATIO = 1032  # deflate never expands more than about 1032:1, so a .gz of n bytes holds at most this * n
PLAUSIBLE_RATIO = 32  # image and label data compress 2-5:1; a header announcing more than this is checked first


def _open(f):
    """(binary file object of the (decompressed) contents of open file `f`, its size, whether it is gzip)."""
    size = os.fstat(f.fileno()).st_size
    compressed = f.read(2) == b"\x1f\x8b"
    f.seek(0)
    return (gzip.GzipFile(fileobj=f, mode="rb") if compressed else f), size, compressed


@contextlib.contextmanager
def _gzip_errors(path):
    """A damaged gzip stream read within becomes a DataError naming `path`."""
    try:
        yield
    except (EOFError, OSError, zlib.error) as exc:
        raise DataError(f"{path}: corrupt or truncated gzip file ({exc}); delete it and download it again") from exc


def _read(f, n, path):
    """Up to `n` bytes from (decompressed) file `f`, read in chunks so that only what is there is allocated."""
    chunks, left = [], n
    with _gzip_errors(path):
        while left > 0 and (chunk := f.read(min(left, 1 << 20))):
            chunks.append(chunk)
            left -= len(chunk)
    return b"".join(chunks)


def _fill(f, out, path):
    """Read (decompressed) file `f` into the uint8 array `out` in place; returns the number of bytes read,
    fewer than `out` holds when the stream ends first."""
    view, done = memoryview(out).cast("B"), 0
    with _gzip_errors(path):
        while done < len(view) and (n := f.readinto(view[done:done + (1 << 20)])):
            done += n
    return done


def _skim(f, n, path):
    """How many of the next `n` bytes (decompressed) file `f` holds, read into one reused buffer and dropped."""
    view, done = memoryview(bytearray(1 << 20)), 0
    with _gzip_errors(path):
        while done < n and (k := f.readinto(view[:n - done])):
            done += k
    return done


def read_idx(path, ndim=None, what="data", max_items=None, item_shape=None):
    """Read an unsigned-byte IDX file (raw or gzip, told by its magic bytes) into a NumPy uint8 array.

    `ndim`, when given, is the number of dimensions the caller expects (3 for images, 1 for labels),
    which catches a labels file given for images; `what` names the contents in error messages
    ("image data"). `max_items` bounds the first dimension and `item_shape` fixes the others, as a data
    set promises them. Everything is checked from the header before the data is read, and no more than
    the header announces is ever decompressed; memory is allocated for the data only once the file is known
    to hold it, so a gzip bomb costs no more memory than an honest file.
    """
    with open(path, "rb") as f:
        return _read_opened(f, path, ndim, what, max_items, item_shape)


def _read_opened(f, path, ndim, what, max_items, item_shape):
    raw, size, compressed = _open(f)
    with raw:
        magic = _read(raw, 4, path)
        if len(magic) < 4 or magic[:2] != b"\0\0":
            raise DataError(f"{path}: not an IDX file (magic number {magic.hex() or 'missing'}, expected 0x000008dd)")
        kind, dims_count = magic[2], magic[3]
        if kind != UBYTE:
            raise DataError(f"{path}: IDX element type 0x{kind:02x} is not supported, expected 0x08 (unsigned byte)")
        if dims_count == 0 or (ndim is not None and dims_count != ndim):
            expected = f"{ndim}" if ndim is not None else "at least 1"
            raise DataError(f"{path}: expected {expected} dimension(s) for {what}, found {dims_count}; "
                            "is this the right file?")
        dims = _read(raw, 4 * dims_count, path)
        if len(dims) < 4 * dims_count:
            raise DataError(f"{path}: truncated IDX header: expected {4 + 4 * dims_count} bytes, found "
                            f"{4 + len(dims)}")
        shape = struct.unpack(f">{dims_count}I", dims)
        _check_promise(path, shape, what, max_items, item_shape)
        expected = math.prod(shape)
        if compressed and expected > GZIP_MAX_RATIO * size:
            raise DataError(f"{path}: its header announces {expected:,} bytes of {what} for shape {shape}, more than "
                            f"a {size:,}-byte gzip file can hold: truncated or damaged")
        if not compressed and size - 4 - 4 * dims_count != expected:
            raise DataError(f"{path}: expected {expected} bytes of {what} for shape {shape}, "
                            f"found {size - 4 - 4 * dims_count}")
        if compressed and expected > PLAUSIBLE_RATIO * size:  # count the bytes, keeping none, before allocating
            _check_length(path, what, shape, expected, _skim(raw, expected + 1, path))
            raw.seek(4 + 4 * dims_count)
        try:
            data = host.empty(expected, dtype=host.uint8)
        except MemoryError as exc:
            raise MemoryError(f"{path}: {what} of shape {shape} needs {expected:,} bytes of memory, "
                              "more than can be allocated") from exc
        got = _fill(raw, data, path)
        if got == expected:
            got += len(_read(raw, 1, path))  # one byte more than announced tells a longer gzip stream
        _check_length(path, what, shape, expected, got)
    return data.reshape(shape)


def _check_length(path, what, shape, expected, got):
    """`got` bytes of data were read, with a limit of `expected` + 1: fewer or more than `expected` is an error."""
    if got != expected:
        found = f"more than {expected}" if got > expected else got
        raise DataError(f"{path}: expected {expected} bytes of {what} for shape {shape}, found {found}")


def _check_promise(path, shape, what, max_items, item_shape):
    if item_shape is not None and tuple(shape[1:]) != tuple(item_shape):
        raise DataError(f"{path}: expected {what} of shape {tuple(item_shape)} per item, found {tuple(shape[1:])}")
    if max_items is not None and shape[0] > max_items:
        raise DataError(f"{path}: its header announces {shape[0]:,} items of {what}, expected at most {max_items:,}")


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
