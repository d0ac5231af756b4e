"""Shared pieces of the convolution and pooling layers: argument pairs, window
size checks, and a convolution's forward and backward passes.

A convolution is `y = W · im2col(x)`; its input gradient `col2im(Wᵀ · dy)` is
also the forward pass of a transposed convolution, and vice versa, so Conv2D and
ConvTranspose2D both use `conv_forward` and `conv_backward`.

Both run over blocks of output rows (`ops.row_blocks`): on the CPU a block's
columns (about 4 MiB, but never less than one output row of the whole batch) are
built, multiplied and dropped while they are in the cache, so the full column
matrix (kh*kw times the input) is never stored and the backward pass rebuilds each
block from the input; on the GPU blocks are far larger (256 MiB). The
arrays are logical NCHW stored batch-last, (C, H, W, N) in memory (`ops.batch_last`
is free for them): one matrix product per group covers the whole batch, and its
output is already the next layer's input layout.
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


def padded(x, padding):
    """`x` (N, C, H, W) zero-padded by `padding`, as a view of batch-last memory (no copy when it is one already)."""
    return xp.moveaxis(ops.batch_last(ops.pad(x, padding)), -1, 0)


def padded_shape(shape, padding):
    """The shape (N, C, H + 2*ph, W + 2*pw) of an (N, C, H, W) array padded by `padding`."""
    n, c, h, w = shape
    return n, c, h + 2 * padding[0], w + 2 * padding[1]


def unpadded(a, padding):
    """The interior of a padded (N, C, H, W) array: `padding` rows and columns cut from each side (a view)."""
    (ph, pw), (h, w) = padding, a.shape[2:]
    return a[:, :, ph:h - ph, pw:w - pw]


def _blocks(k, size, n, dtype):
    """(blocks of output rows, column entries of the largest block) for columns of `k` rows (C*kh*kw)
    over an output `size` (OH, OW) of batch `n`."""
    blocks = ops.row_blocks(size[0], k * size[1] * n * xp.dtype(dtype).itemsize)
    return blocks, k * (blocks[0][1] - blocks[0][0]) * size[1] * n


def _rows(start, stop, kernel, stride, dilation):
    """The padded input rows that output rows start..stop-1 read."""
    return slice(start * stride[0], (stop - 1) * stride[0] + dilation[0] * (kernel[0] - 1) + 1)


def conv_forward(xpad, weight, stride, dilation, groups, size):
    """y (N, O, OH, OW), stored batch-last: the convolution of the padded `xpad` (N, C, H, W) with
    weight (O, C/groups, kh, kw) at the first `size` = (OH, OW) output positions."""
    n = xpad.shape[0]
    o, _, kh, kw = weight.shape
    w = weight.reshape(groups, o // groups, -1)
    y = xp.empty((o, *size, n), dtype=xp.result_type(xpad, weight))
    blocks, columns = _blocks(groups * w.shape[2], size, n, xpad.dtype)
    buf = ops.scratch("columns", columns, xpad.dtype)
    for start, stop in blocks:
        rows = xpad[:, :, _rows(start, stop, (kh, kw), stride, dilation)]
        col = ops.im2col(rows, (kh, kw), stride, dilation, (stop - start, size[1]), buf)
        ops.matmul(w, ops.batch_last(col).reshape(groups, w.shape[2], -1),
                   out=y[:, start:stop].reshape(groups, o // groups, -1))
    return y.transpose(3, 0, 1, 2)


def conv_backward(dy, weight, stride, dilation, groups, xpad=None, padded_shape=None):
    """(dL/dweight or None, dL/dxpad or None) of a convolution from its output gradient dy (N, O, OH, OW).

    The weight gradient dy · im2col(xpad)ᵀ needs the forward's padded input `xpad`; the input
    gradient col2im(weightᵀ · dy), of the padded input's shape `padded_shape`, is stored batch-last.
    ConvTranspose2D calls it with the roles swapped: its input as `dy` (its forward pass is this
    input gradient) and its padded output gradient as `xpad` (for its weight gradient)."""
    n, o, oh, ow = dy.shape
    cg, kh, kw = weight.shape[1:]
    dyt = ops.batch_last(dy)
    w = weight.reshape(groups, o // groups, -1)
    k = w.shape[2]
    dtype = xp.result_type(dy, weight, *([] if xpad is None else [xpad]))
    dw = xp.zeros(w.shape, dtype=dtype) if xpad is not None else None
    dx = ops.full_batch_last(padded_shape, 0, dtype) if padded_shape is not None else None
    blocks, columns = _blocks(groups * k, (oh, ow), n, dtype)
    buf = ops.scratch("columns", columns, dtype)
    for start, stop in blocks:
        rows = _rows(start, stop, (kh, kw), stride, dilation)
        d = dyt[:, start:stop].reshape(groups, o // groups, -1)
        if dw is not None:
            col = ops.im2col(xpad[:, :, rows], (kh, kw), stride, dilation, (stop - start, ow), buf)
            dw += ops.matmul_nt(d, ops.batch_last(col).reshape(groups, k, -1))
        if dx is not None:
            dcol = ops.matmul(w.transpose(0, 2, 1), d, out=buf[:groups * k * d.shape[2]].reshape(groups, k, -1))
            ops.col2im(xp.moveaxis(dcol.reshape(groups * cg, kh, kw, stop - start, ow, n), -1, 0), dx[:, :, rows],
                       stride, dilation)
    return (None if dw is None else dw.reshape(weight.shape)), dx
