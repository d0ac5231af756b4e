"""Stride-1 convolution as one matrix product per kernel tap, read from the input where it lies (no im2col copy).

Stored batch-last, the padded input (C, H', W', N) is a matrix X of C rows and H'·W'·N
columns. Compute the output over the whole padded width (j < W' instead of OW): output
(i, j, n) is flat column f = (i·W' + j)·N + n, and the input under its kernel tap (p, q)
is column f + (p·dh·W' + q·dw)·N of X. That **flat shift** is the same for every output,
so with W_pq the (O, C) weights of tap (p, q):

    Y[:, f] = sum over taps of  W_pq · X[:, f + shift_pq]

one GEMM per tap on a shifted view of X, each added into Y (`ops.matmul_add`).
Columns j >= OW, the **extra columns**, read across into the next row: they are computed
and dropped. The gradients have the same form: dW_pq = dY · X[:, shifted]ᵀ with the extra
columns of dY set to zero, and the input gradient is the adjoint, each tap's Wᵀ_pq · dY
added into dX at its shift. All three run over blocks of columns (`ops.row_blocks`), so
a block of Y stays in the cache while its taps add into it.
"""
from ..backend import layout, ops, xp


def applies(stride, groups):
    """Whether a convolution with these settings runs here: stride 1, ungrouped (others use im2col)."""
    return tuple(stride) == (1, 1) and groups == 1


def _plan(padded_shape, weight_shape, dilation):
    """(output size (OH, OW), columns computed, flat shift of each tap) of the convolution."""
    n, _, h, w = padded_shape
    _, _, kh, kw = weight_shape
    dh, dw = dilation
    oh, ow = h - dh * (kh - 1), w - dw * (kw - 1)
    # The last output row's extra columns would read past the input's end: they are not computed.
    length = (oh * w - dw * (kw - 1)) * n
    shifts = [(p * dh * w + q * dw) * n for p in range(kh) for q in range(kw)]
    return (oh, ow), length, shifts


def _blocks(length, channels, itemsize):
    return ops.row_blocks(length, channels * itemsize)


def _taps(weight, dtype):
    """The weight (O, C, kh, kw) as (kh·kw, O, C): W_pq in tap order, each one contiguous so that BLAS takes it
    (and its transpose) as it lies."""
    o, c = weight.shape[:2]
    return xp.ascontiguousarray(weight.astype(dtype, copy=False).transpose(2, 3, 0, 1)).reshape(-1, o, c)


def conv2d(xpad, weight, dilation):
    """y (N, O, OH, OW), stored batch-last: the stride-1 convolution of the padded `xpad` (N, C, H', W')
    with weight (O, C, kh, kw)."""
    n, c, h, w = xpad.shape
    o = weight.shape[0]
    dtype = xp.result_type(xpad, weight)
    (oh, ow), length, shifts = _plan(xpad.shape, weight.shape, dilation)
    x = layout.batch_last(xpad).astype(dtype, copy=False).reshape(c, -1)
    taps = _taps(weight, dtype)
    wide = ops.scratch("shifted.y", o * oh * w * n, dtype).reshape(o, -1)  # over the padded width
    for start, stop in _blocks(length, c + o, wide.itemsize):
        for k, shift in enumerate(shifts):
            ops.matmul_add(taps[k], x[:, start + shift:stop + shift], wide[:, start:stop], add=k > 0)
    y = layout.empty((n, o, oh, ow), dtype)
    layout.batch_last(y)[...] = wide.reshape(o, oh, w, n)[:, :, :ow]  # drop the extra columns
    return y


def _widened(dy, width):
    """dy (N, O, OH, OW) as a flat (O, OH·width·N) matrix over the padded width, zero in the extra columns."""
    n, o, oh, ow = dy.shape
    wide = ops.scratch("shifted.dy", o * oh * width * n, dy.dtype).reshape(o, oh, width, n)
    wide[:, :, :ow] = layout.batch_last(dy)
    wide[:, :, ow:] = 0
    return wide.reshape(o, -1)


def backward(dy, weight, dilation, xpad, input_grad=True):
    """(dL/dweight, dL/dxpad or None) of `conv2d(xpad, weight, dilation)` from its output gradient dy; the
    input gradient, of the padded input's shape, is stored batch-last."""
    n, c, h, w = xpad.shape
    o = weight.shape[0]
    dtype = xp.result_type(dy, weight, xpad)
    _, length, shifts = _plan(xpad.shape, weight.shape, dilation)
    x = layout.batch_last(xpad).astype(dtype, copy=False).reshape(c, -1)
    d = _widened(dy.astype(dtype, copy=False), w)
    taps = _taps(weight, dtype)
    dtaps = xp.zeros(taps.shape, dtype)
    dx = layout.zeros(xpad.shape, dtype) if input_grad else None
    dxm = layout.batch_last(dx).reshape(c, -1) if input_grad else None
    for start, stop in _blocks(length, c + o, d.itemsize):
        block = d[:, start:stop]
        for k, shift in enumerate(shifts):
            window = slice(start + shift, stop + shift)
            ops.matmul_add(block, x[:, window].T, dtaps[k])
            if input_grad:
                ops.matmul_add(taps[k].T, block, dxm[:, window])
    dweight = dtaps.reshape(*weight.shape[2:], o, c).transpose(2, 3, 0, 1)
    return xp.ascontiguousarray(dweight), dx
