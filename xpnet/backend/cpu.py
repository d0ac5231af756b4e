"""NumPy kernels behind `xpnet.backend.ops` on the CPU: the sliding windows of convolution and pooling.

`WindowKernels` is written against an array module passed in, so gpu.py binds the
same code to CuPy until it has fused CUDA kernels. The module-level names are the
`ops` API; gpu.py exports the same names with the same signatures.

Window layout: (N, C, kh, kw, OH, OW), i.e. `win[n, c, i, j, oh, ow] =
x[n, c, oh*sh + i*dh, ow*sw + j*dw]`.

Memory layout: arrays keep their logical NCHW shape, but im2col's columns and
col2im's result are stored batch-last, (C, kh, kw, OH, OW, N) and (C, H, W, N)
in memory (PyTorch's "memory format" idea). Then every window copy or addition
moves contiguous runs of OW*N elements instead of OW, the columns of the whole
batch form one matrix, and a convolution's output comes out of its matrix
product batch-last with no transpose copy. Elementwise layers keep the layout
(ufuncs allocate in the inputs' order), so it flows from layer to layer.
"""
import numpy


class WindowKernels:
    """pad / windows / batch_last / im2col / col2im for one array module (`numpy` or `cupy`)."""

    def __init__(self, xp):
        self.xp = xp

    def pad(self, x, padding, value=0.0):
        """`x` (N, C, H, W) with (ph, pw) rows/columns of `value` on each side; `x` itself when no padding."""
        ph, pw = padding
        if not (ph or pw):
            return x
        n, c, h, w = x.shape
        out = self.xp.full((n, c, h + 2 * ph, w + 2 * pw), value, dtype=x.dtype)
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

    def batch_last(self, x):
        """Logical NCHW `x` as a contiguous (C, H, W, N) array: a free view when `x` is stored batch-last."""
        return self.xp.ascontiguousarray(x.transpose(1, 2, 3, 0))

    def im2col(self, x, kernel, stride, padding, dilation):
        """The zero-padded windows of `x` as an (N, C, kh, kw, OH, OW) view of a contiguous
        batch-last (C, kh, kw, OH, OW, N) array (see the module docstring for why)."""
        n, c, h, w = x.shape
        ph, pw = padding
        if ph or pw:
            xt = self.xp.zeros((c, h + 2 * ph, w + 2 * pw, n), dtype=x.dtype)
            xt[:, ph:ph + h, pw:pw + w] = x.transpose(1, 2, 3, 0)
        else:
            xt = self.batch_last(x)
        col = self.xp.ascontiguousarray(self.windows(xt.transpose(3, 0, 1, 2), kernel, stride, dilation)
                                        .transpose(1, 2, 3, 4, 5, 0))
        return col.transpose(5, 0, 1, 2, 3, 4)

    def col2im(self, col, shape, stride, padding, dilation):
        """Adjoint of `im2col`: sum window entries `col` (N, C, kh, kw, OH, OW) back into an array of `shape`.

        One strided slice addition per kernel offset (kh*kw of them) into a batch-last buffer, whose
        padding is then cut off: the result is an NCHW view of (C, H, W, N) memory."""
        n, c, h, w = shape
        ph, pw = padding
        kh, kw, oh, ow = col.shape[2:]
        out = self.xp.zeros((c, h + 2 * ph, w + 2 * pw, n), dtype=col.dtype).transpose(3, 0, 1, 2)
        win = self.windows(out, (kh, kw), stride, dilation)[..., :oh, :ow]
        for i in range(kh):
            for j in range(kw):
                win[:, :, i, j] += col[:, :, i, j]
        return out[:, :, ph:ph + h, pw:pw + w]

_kernels = WindowKernels(numpy)
pad, windows, batch_last, im2col, col2im = (_kernels.pad, _kernels.windows, _kernels.batch_last, _kernels.im2col,
                                            _kernels.col2im)
