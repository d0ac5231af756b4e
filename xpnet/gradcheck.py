"""`gradcheck`: analytic gradients against central differences, in float64.

Works for anything with `obj(*inputs)` and `obj.backward(dy) -> d inputs[0]`:
every layer and every loss. The upstream gradient is random (not all ones), so
a backward pass that mixes up elements cannot pass by symmetry.
"""
import numpy as host  # host-side bookkeeping of numeric derivatives

from .backend import asarray, rng, to_numpy
from .layers.base import Layer


def _numeric(f, x, eps):
    """d f / d x by central differences, perturbing `x` in place and restoring each entry exactly."""
    grad = host.zeros(x.shape)
    for idx in host.ndindex(*x.shape):
        orig = x[idx].copy()
        x[idx] = orig + eps
        plus = f()
        x[idx] = orig - eps
        minus = f()
        x[idx] = orig
        grad[idx] = (plus - minus) / (2 * eps)
    return grad


def _compare(what, analytic, numeric, atol, rtol):
    if analytic is None:
        raise AssertionError(f"gradcheck: no analytic gradient for {what}")
    analytic = to_numpy(analytic).astype(host.float64)
    if analytic.shape != numeric.shape:
        raise AssertionError(f"gradcheck: {what} gradient has shape {analytic.shape}, expected {numeric.shape}")
    err = host.abs(analytic - numeric)
    bad = err > atol + rtol * host.abs(numeric)
    if bad.any():
        i = tuple(int(v) for v in host.argwhere(bad)[0])
        raise AssertionError(f"gradcheck: {what} gradient mismatch at {i}: analytic {analytic[i]:.8g}, "
                             f"numeric {numeric[i]:.8g}; max abs error {err.max():.3g} "
                             f"({int(bad.sum())} of {bad.size} entries beyond atol={atol}, rtol={rtol})")


def gradcheck(fn, *inputs, eps=1e-6, atol=1e-5, rtol=1e-4, seed=0, check_params=True):
    """Check `fn.backward` (input and parameter gradients) numerically; raise AssertionError on mismatch.

    Float inputs and the layer's parameters and buffers are taken to float64 for the
    check (and restored after); only `inputs[0]` is differentiated. The inputs must not
    be mutated by forward or backward. Returns True when every gradient agrees.
    """
    inputs = [asarray(a, host.float64) if to_numpy(a).dtype.kind == "f" else asarray(a) for a in inputs]
    before = [to_numpy(a).copy() for a in inputs]
    layer = fn if isinstance(fn, Layer) else None
    saved = _to_float64(layer) if layer is not None else None
    try:
        out = fn(*inputs)
        g = asarray(_upstream_rng(seed).standard_normal(tuple(out.shape)), host.float64)
        if layer is not None:
            layer.zero_grad()
        dx = fn.backward(g)
        for a, b in zip(inputs, before):
            if not host.array_equal(to_numpy(a), b):
                raise AssertionError(f"gradcheck: {type(fn).__name__} mutated its input")
        analytic_params = {n: p.grad for n, p in layer.named_parameters()} if layer is not None else {}

        def f():
            return float((to_numpy(fn(*inputs)).astype(host.float64) * to_numpy(g)).sum())

        x = inputs[0]
        if getattr(fn, "needs_input_grad", True):
            _compare("input", dx, _numeric(f, x, eps), atol, rtol)
        if layer is not None and check_params:
            for name, p in layer.named_parameters():
                _compare(f"parameter {name!r}", analytic_params[name], _numeric(f, p.data, eps), atol, rtol)
    finally:
        if layer is not None:
            _restore(saved)
    return True


def _upstream_rng(seed):
    """A generator for the upstream gradient: seeded, independent of xpnet's global one."""
    return host.random.default_rng(seed) if seed is not None else rng()


def _to_float64(layer):
    """Take `layer`'s parameters and float buffers to float64; returns what `_restore` needs to undo it."""
    saved = []
    for m in layer.modules():
        for name in m._params:
            p = getattr(m, name)
            saved.append((p, None, p.data.dtype))
            p.data = p.data.astype(host.float64)
            p.grad = None
        for name in m._buffers:
            b = getattr(m, name)
            saved.append((m, name, b.dtype))
            if b.dtype.kind == "f":
                object.__setattr__(m, name, b.astype(host.float64))
    return saved


def _restore(saved):
    """Give the parameters and buffers `_to_float64` changed their dtypes back (gradients dropped)."""
    for owner, name, dtype in saved:
        if name is None:
            owner.data = owner.data.astype(dtype)
            owner.grad = None
        else:
            object.__setattr__(owner, name, getattr(owner, name).astype(dtype))
