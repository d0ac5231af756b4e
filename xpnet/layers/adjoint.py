"""The input gradient of a stride-1 convolution is another stride-1 convolution.

In one dimension, y[i] = sum over q of w[q] · xpad[i + d·q], so

    dx[a] = sum over q of w[q] · dy[a + p - d·q] = sum over q of w[k-1-q] · dyf[a + d·q],

with dyf the output gradient framed by d·(k-1) - p zeros on each side (cropped by as many where
that is negative: those entries of dy only reach the padding). In two dimensions the kernel is
flipped in both axes and its input and output channels swap. So any forward algorithm also gives
the input gradient, without a column matrix to scatter back (col2im): Conv2D's "im2col_flipped"
and Winograd's input gradient run it this way.
"""
from ..backend import layout, xp


def flipped(weight):
    """The kernel (O, C, kh, kw) turned by 180 degrees with its channels swapped, (C, O, kh, kw), contiguous."""
    return xp.ascontiguousarray(weight[:, :, ::-1, ::-1].swapaxes(0, 1))


def framed(dy, kernel, padding, dilation):
    """dy (N, O, OH, OW) framed by d·(k-1) - p zeros on each side per spatial axis, or cropped by as many where
    that is negative, stored batch-last: the input whose flipped-kernel convolution is the input gradient."""
    frame = [d * (k - 1) - p for k, p, d in zip(kernel, padding, dilation)]
    crop = tuple(slice(max(-f, 0), s - max(-f, 0)) for f, s in zip(frame, dy.shape[2:]))
    return layout.padded(dy[(slice(None), slice(None)) + crop], tuple(max(f, 0) for f in frame))
