"""Shared pieces of the convolution and pooling layers: argument pairs, window
size checks, and the three matrix products of a convolution.

A convolution is `y = W · im2col(x)`; its input gradient `col2im(Wᵀ · dy)` is
also the forward pass of a transposed convolution, and vice versa, so Conv2D and
ConvTranspose2D both use `conv_gemm`, `weight_grad` and `input_grad`.
The products take and give logical NCHW arrays but compute on their batch-last
(C, H, W, N) memory (`ops.batch_last`, free for arrays that `ops.im2col`,
`ops.col2im` or these products made): one matrix product per group then covers
the whole batch, and its output is already the next layer's input layout.
"""
from ..backend import ops, xp


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
    """y (N, O, OH, OW) = weight (O, C/groups, kh, kw) · col (N, C, kh, kw, OH, OW), per group; y is batch-last."""
    n, c, kh, kw, oh, ow = col.shape
    o = weight.shape[0]
    cols = ops.batch_last(col).reshape(groups, -1, oh * ow * n)
    y = ops.matmul(weight.reshape(groups, o // groups, -1), cols)
    return y.reshape(o, oh, ow, n).transpose(3, 0, 1, 2)


def weight_grad(dy, col, groups):
    """dL/dweight (O, C/groups, kh, kw) from dy (N, O, OH, OW) and the forward's col: dy · colᵀ over N*OH*OW."""
    o = dy.shape[1]
    c, kh, kw = col.shape[1:4]
    cols = ops.batch_last(col).reshape(groups, c // groups * kh * kw, -1)
    g = ops.matmul_nt(ops.batch_last(dy).reshape(groups, o // groups, -1), cols)
    return g.reshape(o, c // groups, kh, kw)


def input_grad(dy, weight, shape, stride, padding, dilation, groups):
    """dL/dx of `shape` (N, C, H, W) from dy (N, O, OH, OW): col2im(weightᵀ · dy), batch-last."""
    n, o, oh, ow = dy.shape
    cg, kh, kw = weight.shape[1:]
    w = weight.reshape(groups, o // groups, -1).transpose(0, 2, 1)
    col = ops.matmul(w, ops.batch_last(dy).reshape(groups, o // groups, -1))
    col = col.reshape(groups * cg, kh, kw, oh, ow, n)
    return ops.col2im(xp.moveaxis(col, -1, 0), shape, stride, padding, dilation)
