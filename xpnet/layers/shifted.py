"""Stride-1 convolution as one matrix product per kernel row, read from a 3x (kw x) copy of the input
instead of im2col's 9x (kh·kw x).

Stored batch-last, the padded input (C, H', W', N) is a matrix X of C rows and H'·W'·N
columns. Compute the output over the whole padded width (j < W' instead of OW): output
(i, j, n) is flat column f = (i·W' + j)·N + n, and the input under its kernel tap (p, q)
is column f + (p·dh·W' + q·dw)·N of X. That **flat shift** is the same for every output.
Stack the kw width shifts of X into one matrix, the **width unrolling** U (kw·C rows; rows
q·C..q·C+C-1 are X shifted by q·dw·N); then with W_p the (O, kw·C) weights of kernel row p

    Y[:, f] = sum over p of  W_p · U[:, f + p·dh·W'·N]

kh GEMMs with K = kw·C on shifted views of U, each added into Y (`ops.matmul_add`).
Columns j >= OW, the **extra columns**, read across into the next row: they are computed
and dropped. The gradients have the same form: dW_p = dY · U[:, shifted]ᵀ with the extra
columns of dY set to zero, and the input gradient is the same correlation run backwards, of
dY framed by zeros with the kernel turned by 180 degrees (no column matrix, no col2im). The
products run over blocks of columns (`ops.row_blocks`), each with its own slice of U built
when it is reached, so a block of U and of the output stay in the cache while its kernel rows
add into it, and U never takes more than a block's memory.
"""
from ..backend import layout, ops, xp
from . import adjoint


def applies(stride, groups):
    """Whether a convolution with these settings runs here: stride 1, ungrouped (others use im2col)."""
    return tuple(stride) == (1, 1) and groups == 1


def _plan(padded_shape, weight_shape, dilation):
    """(output size (OH, OW), output columns computed, flat shift of each kernel row, of each kernel column)."""
    n, _, h, w = padded_shape
    _, _, kh, kw = weight_shape
    dh, dw = dilation
    oh, ow = h - dh * (kh - 1), w - dw * (kw - 1)
    # The last output row's extra columns would read past the input's end: they are not computed.
    length = (oh * w - dw * (kw - 1)) * n
    rows = [p * dh * w * n for p in range(kh)]
    columns = [q * dw * n for q in range(kw)]
    return (oh, ow), length, rows, columns


def _blocks(x, length, rows, columns, out_rows, name):
    """Yields (start, stop, U): the output columns f < `length` in cache-sized blocks, each with the columns
    start..stop-1 + rows[-1] of U, the width unrolling of x (C, ·) by `columns` (kw·C rows), built in a
    scratch buffer called `name` when the block is reached, so that U takes a block's memory and not the
    whole input's kw times. A block's U overlaps the next one's by the largest kernel-row shift rows[-1];
    blocks are at least that long, so the copying at most doubles (the tuner's larger blocks copy less)."""
    c, k = x.shape[0], len(columns) * x.shape[0]
    start, stop = ops.row_blocks(length, (k + out_rows) * x.itemsize)[0]
    step = max(stop - start, rows[-1])
    for start in range(0, length, step):
        stop = min(length, start + step)
        width = stop - start + rows[-1]
        u = ops.scratch(name, k * width, x.dtype).reshape(len(columns), c, width)
        for q, shift in enumerate(columns):
            u[q] = x[:, start + shift:start + shift + width]
        yield start, stop, u.reshape(k, width)


def _correlate(x, wp, rows, columns, out, name):
    """out (M, L) = sum over p of W_p · U[:, f + rows[p]] for f < L, U the width unrolling of x (C, ·) by
    `columns` and wp (kh, M, kw·C)."""
    for start, stop, u in _blocks(x, out.shape[1], rows, columns, out.shape[0], name):
        for p, shift in enumerate(rows):
            ops.matmul_add(wp[p], u[:, shift:shift + stop - start], out[:, start:stop], add=p > 0)


def _row_weights(weight, dtype):
    """The weight (O, C, kh, kw) as (kh, O, kw·C): W_p, each contiguous so that BLAS takes it as it lies."""
    o, c, kh, kw = weight.shape
    return xp.ascontiguousarray(weight.astype(dtype, copy=False).transpose(2, 0, 3, 1)).reshape(kh, o, kw * c)


def conv2d(xpad, weight, dilation):
    """y (N, O, OH, OW), stored batch-last: the stride-1 convolution of the padded `xpad` (N, C, H', W')
    with weight (O, C, kh, kw)."""
    n, c, h, w = xpad.shape
    o = weight.shape[0]
    dtype = xp.result_type(xpad, weight)
    (oh, ow), length, rows, columns = _plan(xpad.shape, weight.shape, dilation)
    x = layout.batch_last(xpad).astype(dtype, copy=False).reshape(c, -1)
    wide = ops.scratch("shifted.y", o * oh * w * n, dtype).reshape(o, -1)  # over the padded width
    _correlate(x, _row_weights(weight, dtype), rows, columns, wide[:, :length], "shifted.u")
    y = layout.empty((n, o, oh, ow), dtype)
    layout.batch_last(y)[...] = wide.reshape(o, oh, w, n)[:, :, :ow]  # drop the extra columns
    return y


def _framed(dy, width, before, after):
    """dy (N, O, OH, OW) as a flat (O, ·) matrix over the padded width, zero in the extra columns, with
    `before` and `after` zero columns around it."""
    n, o, oh, ow = dy.shape
    e = ops.scratch("shifted.dy", o * (before + oh * width * n + after), dy.dtype).reshape(o, -1)
    e[:, :before] = 0
    e[:, e.shape[1] - after:] = 0
    wide = e[:, before:before + oh * width * n].reshape(o, oh, width, n)
    wide[:, :, :ow] = layout.batch_last(dy)
    wide[:, :, ow:] = 0
    return e


def backward(dy, weight, dilation, xpad, input_grad=True):
    """(dL/dweight, dL/dxpad or None) of `conv2d(xpad, weight, dilation)` from its output gradient dy; the
    input gradient, of the padded input's shape, is stored batch-last.

    The input gradient is the forward pass run backwards: dX[:, g] = sum of W_pqᵀ · dY[:, g - shift_pq],
    the correlation of dY (framed by zeros) with the kernel turned by 180 degrees and its channels swapped."""
    n, c, h, w = xpad.shape
    o, _, kh, kw = weight.shape
    dtype = xp.result_type(dy, weight, xpad)
    _, length, rows, columns = _plan(xpad.shape, weight.shape, dilation)
    reach = rows[-1] + columns[-1]  # the largest flat shift
    e = _framed(dy.astype(dtype, copy=False), w, reach, (h - dy.shape[2]) * w * n)
    d = e[:, reach:reach + length]
    x = layout.batch_last(xpad).astype(dtype, copy=False).reshape(c, -1)
    dwp = xp.empty((kh, kw * c, o), dtype)  # dW_pᵀ: U · dYᵀ runs faster than dY · Uᵀ in BLAS
    for start, stop, u in _blocks(x, length, rows, columns, o, "shifted.u"):
        for p, shift in enumerate(rows):
            ops.matmul_add(u[:, shift:shift + stop - start], d[:, start:stop].T, dwp[p], add=start > 0)
    dweight = dwp.reshape(kh, kw, c, o).transpose(3, 2, 0, 1)
    if not input_grad:
        return dweight, None
    dx = layout.empty(xpad.shape, dtype)
    _correlate(e, _row_weights(adjoint.flipped(weight), dtype), rows, columns, layout.batch_last(dx).reshape(c, -1),
               "shifted.ue")
    return dweight, dx
