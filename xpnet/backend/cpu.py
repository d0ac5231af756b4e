"""The CPU (NumPy) forms of `xpnet.backend.ops`: the kernels whose fastest form differs per backend.

gpu.py exports the same names with the same parameters (row_blocks' optional `budget`
is the CPU's own). Elementwise rules (backend/rules.py) run as their NumPy arithmetic,
split across the cores where the arrays are large. Arrays follow the layout of backend/layout.py: logical NCHW,
stored batch-last.
"""
import contextlib
import math
import os
import tracemalloc

import numpy

from . import layout
from .arrays import rng
from . import threads

# Columns of the long axis P per matrix product: a slice of both operands stays in the cache, which
# OpenBLAS runs faster than one call over the whole of P for the short M and K of small convolutions.
_SLICE = 4096

# Bytes of im2col columns per block of output rows: a block's columns are built, multiplied and used
# while they are still in the cache instead of being written to memory whole and read back. The best
# size depends on the CPU's caches, so the tuner times this default against a quarter and four times it
# for each convolution (`block_sizes`, layers/tuner.py). A block is at least one output row of the
# batch, so wide layers at large batches exceed it.
_BLOCK_BYTES = 4 << 20
_block_bytes = [None]  # a cell `blocks_of` sets: the size `row_blocks` uses now (None: _BLOCK_BYTES)

# NumPy's ufuncs copy operands that are not contiguous through buffers of numpy.getbufsize() elements
# (8192), so that their loops run long. Operands made of contiguous rows this long or longer (col2im's
# windows: OW*N elements in the batch-last layout) lose more to that copy than they gain: `_unbuffered`
# turns it off.
_LONG_ROW = 256

# The engine that reduces arrays of this backend between processes (xpnet/distributed).
COMMUNICATOR = "mpi"

# Where this backend's arrays live, as messages about memory name it.
MEMORY = "host memory"


def peak_bytes(run):
    """The most bytes that `run()` allocated and held at once, as Python's allocation tracer sees NumPy's
    arrays; None while another tracer runs (its numbers stay undisturbed)."""
    if tracemalloc.is_tracing():
        return None
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        run()
        return tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()


def free_bytes():
    """Memory that new arrays can take now without swapping: Linux's MemAvailable, else the free pages;
    None where the system does not say."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def im2col(x, kernel, stride, dilation, size, out=None):
    """The first `size` = (OH, OW) windows of the (already padded) `x` copied into new memory, or into
    the front of the flat buffer `out`: an (N, C, kh, kw, OH, OW) view of contiguous batch-last
    (C, kh, kw, OH, OW, N) memory, so `layout.batch_last` of it is the column matrix for free."""
    win = layout.windows(x, kernel, stride, dilation)[..., :size[0], :size[1]]
    shape = win.shape[1:] + win.shape[:1]
    col = numpy.empty(shape, x.dtype) if out is None else out[:math.prod(shape)].reshape(shape)
    threads.in_parallel(numpy.copyto, col, win.transpose(1, 2, 3, 4, 5, 0), axis=1)  # kernel rows across cores
    return layout.batch_first(col)


def col2im(col, out, stride, dilation):
    """Adjoint of `im2col`: add window entries `col` (N, C, kh, kw, OH, OW) into the windows of the
    (padded) array `out`, in place, by one strided slice addition per kernel offset; returns `out`."""
    kh, kw, oh, ow = col.shape[2:]
    win = layout.windows(out, (kh, kw), stride, dilation)[..., :oh, :ow]
    threads.in_parallel(_add_windows, win, col, axis=1)  # channels across cores
    return out


def _add_windows(win, col):
    with _unbuffered(win[:, :, 0, 0], col[:, :, 0, 0]):
        for i, j in numpy.ndindex(*col.shape[2:4]):
            win[:, :, i, j] += col[:, :, i, j]


def _contiguous_run(a):
    """How many elements of `a` lie one after another in memory, from its innermost axis outwards."""
    run = 1
    for size, stride in sorted(((n, abs(s)) for n, s in zip(a.shape, a.strides) if n > 1), key=lambda t: t[1]):
        if stride != run * a.itemsize:
            break
        run *= size
    return run


@contextlib.contextmanager
def _unbuffered(*arrays):
    """Within it, in this thread, NumPy's ufuncs run along the rows of `arrays` as they lie instead of copying
    them through buffers, when all of them share one dtype (a cast needs the buffers) and have contiguous rows
    of at least _LONG_ROW elements (shorter rows, such as a pooling window's, run faster buffered)."""
    if len({a.dtype for a in arrays}) > 1 or min(map(_contiguous_run, arrays)) < _LONG_ROW:
        yield
        return
    before = numpy.setbufsize(16)  # NumPy's smallest: loops as long as a row need no buffer
    try:
        yield
    finally:
        numpy.setbufsize(before)  # explicitly: NumPy 1.x's errstate would not restore it


def row_blocks(rows, row_bytes, budget=None):
    """[(start, stop), ...]: `rows` output rows split into blocks whose columns (`row_bytes` per row)
    take about `budget` bytes (default: the size `blocks_of` set, else `_BLOCK_BYTES`), at least one row each."""
    step = max(1, (budget or _block_bytes[0] or _BLOCK_BYTES) // max(row_bytes, 1))
    return [(r, min(rows, r + step)) for r in range(0, rows, step)]


def block_sizes():
    """The block sizes (bytes) worth timing for a convolution, the default first."""
    return _BLOCK_BYTES, max(1, _BLOCK_BYTES // 4), _BLOCK_BYTES * 4


def blocks_of(nbytes):
    """A context within which `row_blocks` makes blocks of about `nbytes` (one of `block_sizes()`; None: as
    before). Convolutions enter one on every call, so it is a plain object rather than a generator."""
    return _BlocksOf(nbytes)


class _BlocksOf:
    def __init__(self, nbytes):
        self.nbytes = nbytes

    def __enter__(self):
        self.before = _block_bytes[0]
        _block_bytes[0] = self.nbytes or self.before

    def __exit__(self, *exc):
        _block_bytes[0] = self.before


_scratch = {}


def scratch(name, size, dtype):
    """A flat work buffer of at least `size` elements of `dtype`, kept for the next call with the same `name`.

    Convolutions build their column blocks in these: a new multi-megabyte array per block comes from
    fresh pages (the C library maps large blocks anew), and faulting them in costs more than the
    products that use them. A buffer is valid until the next call with its name."""
    key = (name, numpy.dtype(dtype))
    buf = _scratch.get(key)
    if buf is None or buf.size < size:
        buf = _scratch[key] = numpy.empty(size, dtype)
    return buf[:size]


def release_scratch():
    """Drop every work buffer `scratch` keeps (the tuner's losing algorithms would hold theirs for good)."""
    _scratch.clear()


def matmul(a, b, out=None):
    """a (G, M, K) · b (G, K, P) -> (G, M, P) (into `out` when given) for a long P, in slices of P."""
    if out is None:
        out = numpy.empty(a.shape[:-1] + b.shape[-1:], dtype=numpy.result_type(a, b))
    for s in range(0, b.shape[-1], _SLICE):
        numpy.matmul(a, b[..., s:s + _SLICE], out=out[..., s:s + _SLICE])
    return out


def matmul_nt(a, b):
    """a (G, M, P) · bᵀ with b (G, K, P) -> (G, M, K) for a long P (weight gradients), summed over slices of P.

    Each slice computes b·aᵀ, which OpenBLAS runs faster than a·bᵀ here; one small transpose follows."""
    starts = range(0, a.shape[-1], _SLICE)
    return sum(b[..., s:s + _SLICE] @ a[..., s:s + _SLICE].transpose(0, 2, 1) for s in starts).transpose(0, 2, 1)


def matmul_add(a, b, out, add=True):
    """out += a · b (or out = a · b when not `add`) for 2-D `a` (M, K), `b` (K, P) and `out` (M, P), any of them
    views whose rows lie apart (BLAS's leading dimension: NumPy passes them without a copy); returns `out`.

    NumPy's product cannot add into `out` (BLAS's beta): it writes to a scratch block, added in a second
    pass while still in the cache. (A gemm with beta = 1 from SciPy's BLAS would skip that pass, but SciPy
    bundles a second OpenBLAS whose idle threads spin and slow NumPy's products several times.)"""
    if not add:
        return numpy.matmul(a, b, out=out)
    tmp = scratch("matmul_add", out.size, numpy.result_type(a, b)).reshape(out.shape)
    numpy.matmul(a, b, out=tmp)
    out += tmp
    return out


def random(shape, dtype):
    """Uniform draws in [0, 1) of `dtype` from xpnet's seeded host generator (`xpnet.backend.seed`)."""
    return rng().random(shape, dtype=dtype)


def max_pool(x, kernel, stride, padding):
    """(y, saved): the maximum of each window of `x` (N, C, H, W) padded with -inf, in x's memory order, by
    one elementwise maximum per kernel offset over output-sized strided views (much faster in NumPy than a
    reduction over the window axes), channels split across cores; `saved` is what `max_pool_backward` needs."""
    win = layout.windows(layout.pad(x, padding, -numpy.inf), kernel, stride, (1, 1))
    y = layout.empty_like(win[:, :, 0, 0])
    threads.in_parallel(_window_maxima, win, y, axis=1)
    return y, (win, y, x.shape, kernel, stride, padding)


def _window_maxima(win, y):
    y[...] = win[:, :, 0, 0]
    for i, j in numpy.ndindex(*win.shape[2:4]):
        if i or j:
            numpy.maximum(y, win[:, :, i, j], out=y)


def max_pool_backward(dy, saved):
    """dx: each window's gradient routed to its first maximum in row-major order (ties go to the first, as
    in PyTorch), found by comparing each window position with the maximum; a window holding NaN routes it
    to its last NaN, as PyTorch does. Channels split across cores."""
    win, y, shape, kernel, stride, padding = saved
    dy = layout.match(dy, y)
    return layout.window_grad(lambda g: threads.in_parallel(_route_to_first_maximum, win, y, dy, g, axis=1), shape,
                              kernel, stride, padding, dy.dtype)


def _route_to_first_maximum(win, y, dy, g):
    """g[:, :, i, j] = dy where window position (i, j) holds the window's first maximum y, else 0."""
    free = None  # per window: True while no earlier position has taken the gradient
    offsets = list(numpy.ndindex(*win.shape[2:4]))
    for i, j in offsets:
        taken = win[:, :, i, j] == y
        if free is None:
            free = ~taken
        else:
            taken &= free  # only windows not served yet
            free ^= taken
        numpy.multiply(dy, taken, out=g[:, :, i, j])  # a multiply by the mask: one plain pass, unlike `where`
    if free.any():  # windows whose maximum is NaN, which equals nothing: their last NaN takes the gradient
        for i, j in reversed(offsets):
            last = numpy.isnan(win[:, :, i, j]) & free
            numpy.copyto(g[:, :, i, j], dy, where=last)
            free &= ~last


def run_elementwise(rule, *args):
    """Run `rule` (backend/rules.py) as its xp arithmetic, in pieces across the cores where its arrays are
    large (gpu.py launches its fused CUDA body instead)."""
    threads.in_parallel(rule.arithmetic, *args)
