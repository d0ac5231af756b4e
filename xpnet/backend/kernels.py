"""The GPU backend's own CUDA kernels: im2col, col2im and max-pooling, as CuPy ElementwiseKernels.

Each kernel is one launch where the generic CuPy code would be several. gpu.py calls them;
tests/cuda compiles every kernel here with NVRTC for the GPUs xpnet supports and runs each
body on the host against the NumPy ops, so they are checked on machines without a GPU. The
elementwise update rules of optimizers and layers keep their CUDA bodies beside their xp
arithmetic (backend/rules.py).
"""
import cupy

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

// The position (b, y, x, c) of flat index `i` in a batch-last (C, height, width, N) array.
__device__ void xpnet_batch_last(long long i, long long nb, long long height, long long width, long long& b,
                                 long long& y, long long& x, long long& c) {
    b = xpnet_digit(i, nb);
    x = xpnet_digit(i, width);
    y = xpnet_digit(i, height);
    c = i;
}

// The window, `stride` apart, whose tap at `offset` covers position `pos`; -1 when none of the `count` does.
__device__ long long xpnet_window(long long pos, long long offset, long long stride, long long count) {
    const long long t = pos - offset;
    return (t < 0 || t % stride != 0 || t / stride >= count) ? -1 : t / stride;
}
"""

# One thread per entry of the contiguous batch-last columns (C, kh, kw, OH, OW, N): `i` is that entry's
# flat index (the output is C-contiguous). `x` is raw: indexing it with a 4-element index array goes
# through its own byte strides, so any view of x works.
im2col = cupy.ElementwiseKernel(
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
col2im = cupy.ElementwiseKernel(
    "raw T col, int64 channels, int64 height, int64 width, " + _WINDOW,
    "T img",
    """
    long long r = i;
    const long long z = xpnet_digit(r, width), y = xpnet_digit(r, height), c = xpnet_digit(r, channels), b = r;
    T acc = img;
    for (long long p = 0; p < kh; ++p) {
        const long long oy = xpnet_window(y, p * dh, sh, oh_size);
        if (oy < 0) continue;
        for (long long q = 0; q < kw; ++q) {
            const long long ox = xpnet_window(z, q * dw, sw, ow_size);
            if (ox < 0) continue;
            const long long at[6] = {b, c, p, q, oy, ox};
            acc += col[at];
        }
    }
    img = acc;
    """,
    "xpnet_col2im", reduce_dims=False, preamble=_PREAMBLE)

# Max-pooling, one thread per output element in batch-last order (C, OH, OW, N): the maximum of its window
# of `x` (any strides; positions in the padding are skipped, as -inf padding never wins), and `arg`, the
# window position p*kw + q of its first maximum (ties go to the first, as in PyTorch). A NaN in the window
# makes the output NaN and `arg` the position of its last NaN, as in PyTorch and cpu.py.
_POOL = "int64 nb, int64 height, int64 width, int64 kh, int64 kw, int64 oh_size, int64 ow_size, int64 sh, int64 sw, " \
        "int64 ph, int64 pw"  # batch, input size, window geometry with padding (ph, pw)
max_pool = cupy.ElementwiseKernel(
    "raw T x, " + _POOL,
    "T y, int32 arg",
    """
    long long b, oy, ox, c;
    xpnet_batch_last(i, nb, oh_size, ow_size, b, oy, ox, c);
    T best = 0;
    int k = -1;
    bool nan = false;
    for (long long p = 0; p < kh; ++p) {
        const long long yy = oy * sh - ph + p;
        if (yy < 0 || yy >= height) continue;
        for (long long q = 0; q < kw; ++q) {
            const long long xx = ox * sw - pw + q;
            if (xx < 0 || xx >= width) continue;
            const long long at[4] = {b, c, yy, xx};
            const T v = x[at];
            if (v != v) { nan = true; best = v; k = (int)(p * kw + q); }
            else if (!nan && (k < 0 || v > best)) { best = v; k = (int)(p * kw + q); }
        }
    }
    y = best;
    arg = k;
    """,
    "xpnet_max_pool", preamble=_PREAMBLE)

# Max-pooling's input gradient, one thread per input element in batch-last order (C, H, W, N): the sum of
# dy over the windows whose first maximum (`arg`, batch-last (C, OH, OW, N)) it is, taken in the order
# (p, q) of cpu.py's window sums, so both give the same numbers. dy has any strides.
max_pool_backward = cupy.ElementwiseKernel(
    "raw T dy, raw int32 arg, " + _POOL,
    "T dx",
    """
    long long b, yy, xx, c;
    xpnet_batch_last(i, nb, height, width, b, yy, xx, c);
    T acc = 0;
    for (long long p = 0; p < kh; ++p) {
        const long long oy = xpnet_window(yy + ph, p, sh, oh_size);
        if (oy < 0) continue;
        for (long long q = 0; q < kw; ++q) {
            const long long ox = xpnet_window(xx + pw, q, sw, ow_size);
            if (ox < 0 || arg[((c * oh_size + oy) * ow_size + ox) * nb + b] != p * kw + q) continue;
            const long long at[4] = {b, c, oy, ox};
            acc += dy[at];
        }
    }
    dx = acc;
    """,
    "xpnet_max_pool_backward", preamble=_PREAMBLE)
