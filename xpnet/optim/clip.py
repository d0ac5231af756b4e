"""Gradient clipping by global norm, computed on the device (no host sync)."""
import math

from ..backend import xp
from ..parameter import Parameter


def _norm(x, p):
    """The p-norm of all elements of `x` (p > 0 or inf), a 0-d array of x's dtype."""
    a = xp.abs(x)
    if p == math.inf:
        return xp.max(a)
    if p == 2.0:
        return xp.sqrt(xp.sum(a * a))
    return xp.sum(a ** p) ** (1.0 / p)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0):
    """Scale all gradients in place so their joint `norm_type`-norm is at most `max_norm`; return that norm.

    As in PyTorch the norm is the norm of the per-parameter norms, and gradients are multiplied by
    min(1, max_norm / (total + 1e-6)) on the device; the total norm comes back as a 0-d backend array.
    """
    params = [parameters] if isinstance(parameters, Parameter) else list(parameters)
    norm_type = float(norm_type)
    if not (norm_type > 0):
        raise ValueError(f"clip_grad_norm_: norm_type must be > 0 or inf, got {norm_type}")
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return xp.zeros((), dtype=xp.float32)
    total = _norm(xp.stack([_norm(g, norm_type) for g in grads]), norm_type)
    scale = xp.minimum(max_norm / (total + 1e-6), 1.0).astype(total.dtype)
    for g in grads:
        g *= scale
    return total
