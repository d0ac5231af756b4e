"""Shared pieces of the convolution and pooling layers: argument pairs, window
size checks, and the three matrix products of a convolution.

A convolution is `y = W · im2col(x)`; its input gradient `col2im(Wᵀ · dy)` is
also the forward pass of a transposed convolution, and vice versa, so Conv2D and
ConvTranspose2D both use `conv_gemm`, `weight_grad` and `input_grad`.
All products are batched over (samples, groups) on free reshapes: outputs come
out in NCHW without a transpose copy.
"""
from ..backend import ops


def pair(value, name, minimum):
    """`value` (int or pair of ints) as a tuple (a, b); ValueError if not integers >= `minimum`."""
    items = (value, value) if isinstance(value, int) else tuple(value) if isinstance(value, (tuple, list)) else None
    if items is None or len(items) != 2 or not all(isinstance(v, int) and v >= minimum for v in items):
        raise ValueError(f"{name} must be an int or a pair of ints >= {minimum}, got {value!r}")
    return items


def check_window(layer, shape, kernel, stride, padding, dilation=(1, 1)):
    """The output (OH, OW) of sliding `kernel` over `shape`'s padded H, W.

    Raises ValueError naming `layer` when the kernel does not fit in the padded input."""
    out = []
    for size, k, s, p, d in zip(shape[2:], kernel, stride, padding, dilation):
        span = d * (k - 1) + 1
        if size + 2 * p < span:
            raise ValueError(f"{type(layer).__name__}: input of spatial size {tuple(shape[2:])} (padding "
                             f"{tuple(padding)}) is smaller than the kernel {tuple(kernel)} (dilation "
                             f"{tuple(dilation)}); got input shape {tuple(shape)}")
        out.append((size + 2 * p - span) // s + 1)
    return tuple(out)


def conv_gemm(col, weight, groups):
    """y (N, O, OH, OW) = weight (O, C/groups, kh, kw) · col (N, C, kh, kw, OH, OW), per group."""
    n, c, kh, kw, oh, ow = col.shape
    o = weight.shape[0]
    w = weight.reshape(groups, o // groups, -1)
    return (w @ col.reshape(n, groups, -1, oh * ow)).reshape(n, o, oh, ow)


def weight_grad(dy, col, groups):
    """dL/dweight (O, C/groups, kh, kw) from dy (N, O, OH, OW) and the forward's col."""
    n, o = dy.shape[:2]
    c, kh, kw = col.shape[1:4]
    cols = col.reshape(n, groups, c // groups * kh * kw, -1)
    dys = dy.reshape(n, groups, o // groups, -1)
    # col · dyᵀ (then one small transpose) runs faster in BLAS than dy · colᵀ for LeNet-sized layers.
    g = (cols @ dys.transpose(0, 1, 3, 2)).sum(axis=0)
    return g.transpose(0, 2, 1).reshape(o, c // groups, kh, kw)


def input_grad(dy, weight, shape, stride, padding, dilation, groups):
    """dL/dx of `shape` (N, C, H, W) from dy (N, O, OH, OW): col2im(weightᵀ · dy)."""
    n, o, oh, ow = dy.shape
    cg, kh, kw = weight.shape[1:]
    w = weight.reshape(groups, o // groups, -1).transpose(0, 2, 1)
    col = (w @ dy.reshape(n, groups, o // groups, oh * ow)).reshape(n, groups * cg, kh, kw, oh, ow)
    return ops.col2im(col, shape, stride, padding, dilation)
