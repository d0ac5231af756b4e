"""CuPy kernels behind `xpnet.backend.ops` on the GPU.

`im2col` and `col2im` are fused CuPy elementwise kernels, one launch each (the
generic forms are one strided copy, and kh*kw strided additions: 25 launches for
a 5x5 kernel). `im2col` runs one thread per column entry and gathers it from the
input through the input's strides; `col2im` runs one thread per element of the
padded image and sums, in a fixed order and with no atomics, every column entry
whose window covers it. The other window helpers (pad, windows, full_batch_last,
batch_last) are cpu.py's `WindowKernels` bound to CuPy, kept whole as `generic`
(the tests compare the fused kernels with it). Convolutions run in row blocks
far larger than the CPU's (launches, not caches, limit the GPU), which bound the
column memory of wide layers at large batches.

The fused kernels were written without a GPU at hand and have not yet run on
one: tests/parity/test_gpu_kernels.py checks them against `generic` and NumPy
wherever CuPy and a device are present.
"""
import math

import cupy

from . import cpu
from .cpu import WindowKernels

# Column bytes per block of output rows: one block for LeNet-sized layers; a 64-channel 3x3 layer
# on 28x28 at batch 1024 (1.8 GB of columns) runs in 7 blocks.
_BLOCK_BYTES = 256 << 20


def row_blocks(rows, row_bytes):
    """[(start, stop), ...]: `rows` output rows in blocks of about `_BLOCK_BYTES` of columns (see cpu.py)."""
    return cpu.row_blocks(rows, row_bytes, _BLOCK_BYTES)


def scratch(name, size, dtype):
    """A flat work buffer of `size` elements: a new array here, since CuPy's memory pool already hands
    freed device memory back without a new allocation (cpu.py keeps one per name)."""
    return cupy.empty(size, dtype)


def matmul(a, b, out=None):
    """a (G, M, K) · b (G, K, P) -> (G, M, P), copied into `out` when given; one cuBLAS call (cpu.py
    slices P for OpenBLAS). CuPy's own `out=` has had gaps for strided outputs, hence the copy."""
    y = a @ b
    if out is None:
        return y
    out[...] = y
    return out


def matmul_nt(a, b):
    """a (G, M, P) · bᵀ with b (G, K, P): (G, M, K); one cuBLAS call (cpu.py slices P for OpenBLAS)."""
    return a @ b.transpose(0, 2, 1)


# cpu.py's generic window kernels on CuPy: pad, windows and the layout helpers, and the reference
# im2col/col2im that the fused kernels below replace.
generic = WindowKernels(cupy)
pad, windows = generic.pad, generic.windows
full_batch_last, batch_last = generic.full_batch_last, generic.batch_last

# The window geometry both fused kernels take, after their own arguments, and a helper for their index math
# (64-bit throughout: sizes may pass 2**31 elements).
_WINDOW = "int64 kh, int64 kw, int64 oh_size, int64 ow_size, int64 sh, int64 sw, int64 dh, int64 dw"
_PREAMBLE = """
// The next digit of the mixed-radix index `rest`, innermost axis first: returns rest % size, sets rest /= size.
__device__ long long xpnet_digit(long long& rest, long long size) {
    const long long digit = rest % size;
    rest /= size;
    return digit;
}
"""

# One thread per entry of the contiguous batch-last columns (C, kh, kw, OH, OW, N): `i` is that entry's
# flat index (the output is C-contiguous). `x` is raw: indexing it with a 4-element index array goes
# through its own byte strides, so any view of x works.
_im2col_kernel = cupy.ElementwiseKernel(
    "raw T x, int64 nb, " + _WINDOW,
    "T col",
    """
    long long r = i;
    const long long b = xpnet_digit(r, nb), ox = xpnet_digit(r, ow_size), oy = xpnet_digit(r, oh_size);
    const long long q = xpnet_digit(r, kw), p = xpnet_digit(r, kh), c = r;
    const long long at[4] = {b, c, oy * sh + p * dh, ox * sw + q * dw};
    col = x[at];
    """,
    "xpnet_im2col", preamble=_PREAMBLE)

# One thread per element (b, c, y, z) of the image `img` (N, C, H, W), read and written through its
# strides (reduce_dims=False keeps its 4-D shape, so `i` is the C-order index decoded below). It adds
# col[b, c, p, q, oy, ox] for every window position oy*sh + p*dh == y, ox*sw + q*dw == z, in the order
# (p, q) of cpu.py's slice additions, onto the element's old value: the same sums, no atomics.
_col2im_kernel = cupy.ElementwiseKernel(
    "raw T col, int64 channels, int64 height, int64 width, " + _WINDOW,
    "T img",
    """
    long long r = i;
    const long long z = xpnet_digit(r, width), y = xpnet_digit(r, height), c = xpnet_digit(r, channels), b = r;
    T acc = img;
    for (long long p = 0; p < kh; ++p) {
        const long long ty = y - p * dh;
        if (ty < 0 || ty % sh != 0 || ty / sh >= oh_size) continue;
        for (long long q = 0; q < kw; ++q) {
            const long long tx = z - q * dw;
            if (tx < 0 || tx % sw != 0 || tx / sw >= ow_size) continue;
            const long long at[6] = {b, c, p, q, ty / sh, tx / sw};
            acc += col[at];
        }
    }
    img = acc;
    """,
    "xpnet_col2im", reduce_dims=False, preamble=_PREAMBLE)


def _fitting(length, k, s, d):
    """How many windows of `k` taps `d` apart, `s` apart, fit in `length` (0 when none)."""
    return max(0, (length - d * (k - 1) - 1) // s + 1)


def im2col(x, kernel, stride, dilation, size, out=None):
    """The first `size` = (OH, OW) windows of the (already padded) `x` (N, C, H, W, any strides) copied into
    new memory, or into the front of the flat buffer `out`: an (N, C, kh, kw, OH, OW) view of contiguous
    batch-last (C, kh, kw, OH, OW, N) memory, as cpu.py's, by one fused kernel launch."""
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    oh = min(size[0], _fitting(h, kh, sh, dh))  # as the generic slice [:size] of the windows
    ow = min(size[1], _fitting(w, kw, sw, dw))
    shape = (c, kh, kw, oh, ow, n)
    col = cupy.empty(shape, x.dtype) if out is None else out[:math.prod(shape)].reshape(shape)
    _im2col_kernel(x.astype(col.dtype, copy=False), n, kh, kw, oh, ow, sh, sw, dh, dw, col)
    return cupy.moveaxis(col, -1, 0)


def col2im(col, out, stride, dilation):
    """Adjoint of `im2col`: add window entries `col` (N, C, kh, kw, OH, OW, any strides) into the windows of
    the (padded) array `out` (N, C, H, W, any strides), in place, by one fused kernel launch; returns `out`."""
    n, c, kh, kw, oh, ow = col.shape
    if (n, c) != out.shape[:2]:
        raise ValueError(f"col2im: columns {col.shape} do not fit an image of shape {out.shape}")
    h, w = out.shape[2:]
    (sh, sw), (dh, dw) = stride, dilation
    oh = min(oh, _fitting(h, kh, sh, dh))  # windows that do not fit are dropped, as by the generic slice
    ow = min(ow, _fitting(w, kw, sw, dw))
    _col2im_kernel(col.astype(out.dtype, copy=False), c, h, w, kh, kw, oh, ow, sh, sw, dh, dw, out)
    return out
