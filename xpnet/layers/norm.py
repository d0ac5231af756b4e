"""Normalisation to zero mean and unit variance over some axes, and its gradient.

Shared by the batch, layer and group norms, which differ only in the axes they normalise over.
"""
from ..backend import xp


def normalize(x, axes, eps):
    """(x - mean) / sqrt(var + eps) over `axes` (biased variance); returns x_hat, mean, var, 1/std."""
    mean = x.mean(axis=axes, keepdims=True)
    xc = x - mean
    var = (xc * xc).mean(axis=axes, keepdims=True)
    inv_std = 1 / xp.sqrt(var + eps)
    xc *= inv_std
    return xc, mean, var, inv_std


def normalize_backward(g, x_hat, inv_std, axes):
    """Gradient of `normalize` with batch statistics, given g = dL/dx_hat:
    inv_std * (g - mean(g) - x_hat * mean(g * x_hat))."""
    dx = g - g.mean(axis=axes, keepdims=True)
    dx -= x_hat * (g * x_hat).mean(axis=axes, keepdims=True)
    dx *= inv_std
    return dx


def channel_moments(a, mean, var):
    """The mean and biased variance of each row of `a` (C, P) into `mean` and `var` (C,), by the two-pass
    formula (no cancellation when the mean is large); call it on a block of rows small enough to stay in
    the cache, so that the second pass reads the cache."""
    a.mean(axis=1, out=mean)
    centred = a - mean[:, None]
    xp.divide(xp.einsum("cp,cp->c", centred, centred), a.shape[1], out=var)
