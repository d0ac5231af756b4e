"""What the tests share: assertions against references and PyTorch, and a memory measure."""
import numpy as np

from xpnet.backend import asarray, layout, to_numpy


def assert_close(actual, expected, rtol=1e-10, atol=1e-12, what="value"):
    """Compare backend or torch arrays on the host, float64 precision by default."""
    if hasattr(expected, "detach"):
        expected = expected.detach().cpu().numpy()
    if hasattr(actual, "detach"):
        actual = actual.detach().cpu().numpy()
    a, e = to_numpy(actual), to_numpy(expected)
    assert a.shape == e.shape, f"{what}: shape {a.shape} != expected {e.shape}"
    np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, err_msg=what)


def stored_batch_last(x):
    """The values of `x` (N, ...) in a new backend array stored batch-last, the layout layers hand on."""
    out = layout.zeros(x.shape, x.dtype)
    out[...] = asarray(x)
    return out


def check_against_torch(layer, tlayer, x, torch, params=(), rtol=1e-10, atol=1e-12):
    """Run `layer` and torch's `tlayer` forward and backward in float64 on `x` (host array);
    compare outputs, input gradients and the named parameters' gradients."""
    y = layer(asarray(x))
    g = np.random.default_rng(7).standard_normal(y.shape)
    layer.zero_grad()
    dx = layer.backward(asarray(g))
    tx = torch.tensor(x, requires_grad=True)
    tlayer.zero_grad()
    ty = tlayer(tx)
    ty.backward(torch.tensor(g))
    assert_close(y, ty, rtol, atol, what="output")
    assert_close(dx, tx.grad, rtol, atol, what="input gradient")
    for name in params:
        assert_close(getattr(layer, name).grad, getattr(tlayer, name).grad, rtol, atol, what=f"{name} gradient")
    return y


def assert_rounding_close(actual, expected, dtype, k, depth=1, what="value"):
    """`actual` within the parity catalogue's tolerance of `expected` (xpnet.parity.compare.tolerance): derived
    from the longest sum `k` and the `depth` of chained steps in `dtype`, not from one machine's error."""
    from xpnet.parity.compare import errors, tolerance

    if hasattr(expected, "detach"):
        expected = expected.detach().cpu().numpy()
    a, e = to_numpy(actual), np.asarray(expected)
    assert a.shape == e.shape, f"{what}: shape {a.shape} != expected {e.shape}"
    rtol = tolerance(dtype, k, depth)
    _, rel = errors(a, e)
    assert rel <= rtol, f"{what}: relative error {rel:.3g} beyond the tolerance {rtol:.3g} (k={k}, depth={depth})"


def traced_peak(call):
    """The most bytes Python's allocation tracer (NumPy's arrays included) saw held at once while `call()` ran."""
    import tracemalloc
    tracemalloc.start()
    try:
        call()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak
