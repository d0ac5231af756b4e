"""NumPy kernels behind `xpnet.backend.ops` on the CPU: the sliding windows of convolution and
pooling, the convolutions' matrix products (sliced for OpenBLAS), and the cache-sized row blocks
a convolution is computed in.

`WindowKernels` is written against an array module passed in, so gpu.py binds the
same code to CuPy. The module-level names are the `ops` API; gpu.py exports the
same names with the same parameters (row_blocks' optional `budget` is the CPU's own).

Window layout: (N, C, kh, kw, OH, OW), i.e. `win[n, c, i, j, oh, ow] =
x[n, c, oh*sh + i*dh, ow*sw + j*dw]`.

Memory layout: arrays keep their logical NCHW shape, but convolution columns, outputs
and input gradients are stored batch-last, (C, kh, kw, OH, OW, N) and (C, H, W, N)
in memory (PyTorch's "memory format" idea). Then every window copy or addition
moves contiguous runs of OW*N elements instead of OW, the columns of the whole
batch form one matrix, and a convolution's output comes out of its matrix
product batch-last with no transpose copy. Elementwise layers keep the layout
(ufuncs allocate in the inputs' order), so it flows from layer to layer.
"""
import math

import numpy


class WindowKernels:
    """pad / windows / full_batch_last / batch_last / im2col / col2im for one array module (`numpy` or `cupy`)."""

    def __init__(self, xp):
        self.xp = xp

    def pad(self, x, padding, value=0.0):
        """`x` (N, C, H, W) with (ph, pw) rows/columns of `value` on each side, stored batch-last;
        `x` itself when no padding."""
        ph, pw = padding
        if not (ph or pw):
            return x
        n, c, h, w = x.shape
        out = self.full_batch_last((n, c, h + 2 * ph, w + 2 * pw), value, x.dtype)
        out[:, :, ph:ph + h, pw:pw + w] = x
        return out

    def windows(self, x, kernel, stride, dilation):
        """A strided view (N, C, kh, kw, OH, OW) of the (already padded) `x`: no copy.

        It shares memory with `x`: reading it costs nothing, and writes land in `x`
        (used to scatter into non-overlapping windows)."""
        n, c, h, w = x.shape
        (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
        oh = (h - dh * (kh - 1) - 1) // sh + 1
        ow = (w - dw * (kw - 1) - 1) // sw + 1
        bn, bc, bh, bw = x.strides
        return self.xp.lib.stride_tricks.as_strided(
            x, (n, c, kh, kw, oh, ow), (bn, bc, bh * dh, bw * dw, bh * sh, bw * sw))

    def full_batch_last(self, shape, value, dtype):
        """A new array of logical `shape` (N, ...) filled with `value`, stored batch-last."""
        return self.xp.moveaxis(self.xp.full(shape[1:] + shape[:1], value, dtype=dtype), -1, 0)

    def batch_last(self, x):
        """`x` (N, ...) with its first axis moved last, as a contiguous array: e.g. NCHW -> (C, H, W, N).

        Free (a view) when `x` is stored batch-last, as the arrays from im2col/col2im are."""
        return self.xp.ascontiguousarray(self.xp.moveaxis(x, 0, -1))

    def im2col(self, x, kernel, stride, dilation, size, out=None):
        """The first `size` = (OH, OW) windows of the (already padded) `x` copied into new memory, or
        into the front of the flat buffer `out`: an (N, C, kh, kw, OH, OW) view of contiguous
        batch-last (C, kh, kw, OH, OW, N) memory (see the module docstring for why)."""
        win = self.windows(x, kernel, stride, dilation)[..., :size[0], :size[1]]
        shape = win.shape[1:] + win.shape[:1]
        col = (self.xp.empty(shape, x.dtype) if out is None
               else out[:math.prod(shape)].reshape(shape))
        self.xp.copyto(col, self.xp.moveaxis(win, 0, -1))
        return self.xp.moveaxis(col, -1, 0)

    def col2im(self, col, out, stride, dilation):
        """Adjoint of `im2col`: add window entries `col` (N, C, kh, kw, OH, OW) into the windows of the
        (padded) array `out`, in place, by one strided slice addition per kernel offset (kh*kw of them)."""
        kh, kw, oh, ow = col.shape[2:]
        win = self.windows(out, (kh, kw), stride, dilation)[..., :oh, :ow]
        for i in range(kh):
            for j in range(kw):
                win[:, :, i, j] += col[:, :, i, j]
        return out


# Columns of the long axis P per matrix product: a slice of both operands stays in cache.
# OpenBLAS runs LeNet's convolution products (M, K <= 150, P = N*OH*OW up to 100,352)
# 1.1 to 3 times faster slice by slice than in one call (measured, float32).
_SLICE = 4096

# Bytes of im2col columns per block of output rows: a block's columns are built, multiplied and
# dropped while they are still in the cache. Materialising all columns at once writes and re-reads,
# e.g., 80 MB for LeNet's first layer at batch 1024. 4 MiB timed best for LeNet-5 training at batches
# 32 to 512 among 1 to 16 MiB on the development machine (1 MiB L2 per core, 32 MiB L3): 5-8% faster
# than 2 MiB (fewer, larger products), 10-17% faster than 1 MiB. A block is at least one output row
# of the whole batch, so wide layers at large batches exceed the budget (e.g. 4.7 MB per row for a
# 64-channel 3x3 layer on 32x32 at batch 64).
_BLOCK_BYTES = 4 << 20


def row_blocks(rows, row_bytes, budget=None):
    """[(start, stop), ...]: `rows` output rows split into blocks whose columns (`row_bytes` per row)
    take about `budget` bytes (default `_BLOCK_BYTES`), at least one row each."""
    step = max(1, (budget or _BLOCK_BYTES) // max(row_bytes, 1))
    return [(r, min(rows, r + step)) for r in range(0, rows, step)]


_scratch = {}


def scratch(name, size, dtype):
    """A flat work buffer of at least `size` elements of `dtype`, kept for the next call with the same `name`.

    Convolutions build their column blocks in these: a new multi-megabyte array per block would
    come from fresh pages (glibc maps large blocks anew), and faulting those in cost more than the
    products that use them (measured: 1.7x the convolution's backward pass). A buffer is valid until
    the next call with its name and keeps the size of the largest block asked for (a few megabytes
    for LeNet; one output row of the batch when rows exceed `_BLOCK_BYTES`)."""
    key = (name, numpy.dtype(dtype))
    buf = _scratch.get(key)
    if buf is None or buf.size < size:
        buf = _scratch[key] = numpy.empty(size, dtype)
    return buf[:size]


def matmul(a, b, out=None):
    """a (G, M, K) · b (G, K, P) -> (G, M, P) (into `out` when given) for a long P, in slices of P."""
    if out is None:
        out = numpy.empty(a.shape[:-1] + b.shape[-1:], dtype=numpy.result_type(a, b))
    for s in range(0, b.shape[-1], _SLICE):
        numpy.matmul(a, b[..., s:s + _SLICE], out=out[..., s:s + _SLICE])
    return out


def matmul_nt(a, b):
    """a (G, M, P) · bᵀ with b (G, K, P) -> (G, M, K) for a long P (weight gradients), summed over slices of P.

    Each slice computes b·aᵀ (measured faster than a·bᵀ here); one small transpose follows."""
    starts = range(0, a.shape[-1], _SLICE)
    return sum(b[..., s:s + _SLICE] @ a[..., s:s + _SLICE].transpose(0, 2, 1) for s in starts).transpose(0, 2, 1)


_kernels = WindowKernels(numpy)
pad, windows, im2col, col2im = _kernels.pad, _kernels.windows, _kernels.im2col, _kernels.col2im
full_batch_last, batch_last = _kernels.full_batch_last, _kernels.batch_last
