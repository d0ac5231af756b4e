"""NumPy kernels behind `xpnet.backend.ops` on the CPU: the sliding windows of convolution and pooling.

`WindowKernels` is written against an array module passed in, so gpu.py binds the
same code to CuPy until it has fused CUDA kernels. The module-level names are the
`ops` API; gpu.py exports the same names with the same signatures.

Window layout: (N, C, kh, kw, OH, OW), i.e. `win[n, c, i, j, oh, ow] =
x[n, c, oh*sh + i*dh, ow*sw + j*dw]`. Its contiguous copy (`im2col`) reshapes for
free to (N, C*kh*kw, OH*OW), the right operand of an NCHW-producing matrix product.
"""
import numpy


class WindowKernels:
    """pad / windows / im2col / col2im for one array module (`numpy` or `cupy`)."""

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

    def im2col(self, x, kernel, stride, padding, dilation):
        """The zero-padded windows of `x` as a C-contiguous (N, C, kh, kw, OH, OW) array."""
        return self.xp.ascontiguousarray(self.windows(self.pad(x, padding), kernel, stride, dilation))

    def col2im(self, col, shape, stride, padding, dilation):
        """Adjoint of `im2col`: sum window entries `col` (N, C, kh, kw, OH, OW) back into an array of `shape`.

        One strided slice addition per kernel offset (kh*kw of them), then the padding is cut off
        (the result may be a view of a larger buffer)."""
        n, c, h, w = shape
        ph, pw = padding
        kh, kw, oh, ow = col.shape[2:]
        out = self.xp.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=col.dtype)
        win = self.windows(out, (kh, kw), stride, dilation)[..., :oh, :ow]
        for i in range(kh):
            for j in range(kw):
                win[:, :, i, j] += col[:, :, i, j]
        return out[:, :, ph:ph + h, pw:pw + w]


_kernels = WindowKernels(numpy)
pad, windows, im2col, col2im = _kernels.pad, _kernels.windows, _kernels.im2col, _kernels.col2im
