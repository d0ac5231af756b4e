"""How xpnet stores image arrays: logical NCHW, held batch-last in memory.

Every image array has the shape PyTorch gives it, (N, C, H, W), and is indexed that
way. What differs is the order of its elements in memory: a convolution stores its
output batch-last, as if its shape were (C, H, W, N), and views it as NCHW (PyTorch
calls this a memory format). The reasons:

- A convolution is one matrix product W (O, C*kh*kw) · columns (C*kh*kw, OH*OW*N).
  Stored batch-last, the columns of the whole batch are one matrix, and the product's
  (O, OH*OW*N) result already is the output in batch-last memory: no transpose copy.
- im2col copies and col2im adds windows in runs of OW*N contiguous elements instead
  of OW, so NumPy's strided loops run long, and the GPU kernels read coalesced memory.
- Elementwise layers keep the layout for free: ufuncs allocate their result in the
  memory order of their inputs, so ReLU, pooling and batch norm hand it on to the next
  convolution, which reads it without a copy.

Arrays from outside (a DataLoader batch) are plain NCHW; a convolution turns them
batch-last once (`batch_last`) and the rest of the network keeps that, Dense included:
its (N, features) output is stored (features, N). Nothing here depends on the backend:
it is written against `xp`.
"""
from .proxy import ops, xp


# -- new arrays ---------------------------------------------------------------------------------------
def full(shape, value, dtype):
    """A new array of logical `shape` (N, ...) filled with `value`, stored batch-last."""
    return batch_first(xp.full(tuple(shape[1:]) + tuple(shape[:1]), value, dtype=dtype))


def zeros(shape, dtype):
    """A new zero array of logical `shape` (N, ...), stored batch-last. Unlike `full(shape, 0)` it makes no fill
    pass where the system hands out memory already zeroed."""
    return batch_first(xp.zeros(tuple(shape[1:]) + tuple(shape[:1]), dtype=dtype))


def empty(shape, dtype):
    """A new uninitialised array of logical `shape` (N, ...), stored batch-last."""
    return batch_first(xp.empty(tuple(shape[1:]) + tuple(shape[:1]), dtype=dtype))


def empty_like(a, dtype=None):
    """A new uninitialised array shaped like `a`, in `a`'s memory order (batch-last stays batch-last)."""
    return xp.empty_like(a, dtype=dtype, order="K")


def match(a, like):
    """`a` in the memory order of `like` (same shape): `a` itself when it already is, else a copy, so that
    passes combining the two run over matching strides."""
    if a.strides == like.strides:
        return a
    out = empty_like(like, dtype=a.dtype)
    out[...] = a
    return out


def copy(a):
    """A copy of `a` (or of a strided view) in the same memory order."""
    return a.copy(order="K")


# -- between the two orders ------------------------------------------------------------------------
def batch_last(x):
    """`x` (N, ...) with its first axis moved last, contiguous: NCHW -> (C, H, W, N).

    A free view when `x` is stored batch-last; a copy otherwise."""
    return xp.ascontiguousarray(x.transpose(_FIRST_TO_LAST[x.ndim]))


def batch_first(a):
    """A (..., N) array viewed as (N, ...): the logical view of batch-last memory (no copy)."""
    return a.transpose(_LAST_TO_FIRST[a.ndim])


def is_batch_last(x):
    """True when `x` (N, ...) is stored batch-last, i.e. `batch_last(x)` is free."""
    return x.transpose(_FIRST_TO_LAST[x.ndim]).flags.c_contiguous


# The axis orders of the two moves, by rank (transpose with a ready tuple costs far less than moveaxis).
_FIRST_TO_LAST = {n: tuple(range(1, n)) + (0,) for n in range(1, 9)}
_LAST_TO_FIRST = {n: (n - 1,) + tuple(range(n - 1)) for n in range(1, 9)}


# -- padding and windows ---------------------------------------------------------------------------
def padded_shape(shape, padding):
    """The shape (N, C, H + 2*ph, W + 2*pw) of an (N, C, H, W) array padded by `padding` = (ph, pw)."""
    n, c, h, w = shape
    return n, c, h + 2 * padding[0], w + 2 * padding[1]


def pad(x, padding, value=0.0):
    """`x` (N, C, H, W) with (ph, pw) rows and columns of `value` on each side, stored batch-last;
    `x` itself when there is no padding."""
    ph, pw = padding
    if not (ph or pw):
        return x
    h, w = x.shape[2:]
    shape = padded_shape(x.shape, padding)
    out = zeros(shape, x.dtype) if value == 0 else full(shape, value, x.dtype)
    out[:, :, ph:ph + h, pw:pw + w] = x
    return out


def padded(x, padding):
    """`x` zero-padded by `padding` and stored batch-last (no copy when it already is both)."""
    return batch_first(batch_last(pad(x, padding)))


def unpadded(a, padding):
    """The interior of a padded (N, C, H, W) array: `padding` rows and columns cut from each side (a view)."""
    (ph, pw), (h, w) = padding, a.shape[2:]
    return a[:, :, ph:h - ph, pw:w - pw]


def windows(x, kernel, stride, dilation):
    """A strided view (N, C, kh, kw, OH, OW) of the (already padded) `x` (N, C, H, W), no copy:
    `win[n, c, i, j, oh, ow] = x[n, c, oh*sh + i*dh, ow*sw + j*dw]`.

    It shares memory with `x`: reading it costs nothing, and writes land in `x`."""
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    oh = (h - dh * (kh - 1) - 1) // sh + 1
    ow = (w - dw * (kw - 1) - 1) // sw + 1
    if (kh, kw) == (sh, sw) and (dh, dw) == (1, 1):  # windows side by side: split H and W, a cheaper view
        return x[:, :, :oh * kh, :ow * kw].reshape(n, c, oh, kh, ow, kw).transpose(0, 1, 3, 5, 2, 4)
    bn, bc, bh, bw = x.strides
    return xp.lib.stride_tricks.as_strided(x, (n, c, kh, kw, oh, ow), (bn, bc, bh * dh, bw * dw, bh * sh, bw * sw))


def window_grad(fill, shape, kernel, stride, padding, dtype):
    """The input gradient dx of a window operation (pooling) on an input of `shape` (N, C, H, W), stored
    batch-last, from `fill(win)`, which writes the gradient of every window position (N, C, kh, kw, OH, OW)
    into `win`: straight into a view of dx where windows do not overlap, else into columns that
    `ops.col2im` sums back."""
    n, c, h, w = shape
    if padding == (0, 0) and all(s >= k for s, k in zip(stride, kernel)):  # each input element in one window
        tiled = tuple(stride) == tuple(kernel) and h % kernel[0] == 0 and w % kernel[1] == 0
        dx = (empty if tiled else zeros)(shape, dtype)  # untiled: elements outside every window stay 0
        fill(windows(dx, kernel, stride, (1, 1)))
        return dx
    dx = zeros(padded_shape(shape, padding), dtype)
    oh, ow = windows(dx, kernel, stride, (1, 1)).shape[-2:]
    col = empty((n, c, *kernel, oh, ow), dtype)
    fill(col)
    return unpadded(ops.col2im(col, dx, stride, (1, 1)), padding)
