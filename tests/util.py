"""Assertions shared by the tests."""
import numpy as np

from xpnet.backend import to_numpy


def assert_close(actual, expected, rtol=1e-10, atol=1e-12, what="value"):
    """Compare backend or torch arrays on the host, float64 precision by default."""
    if hasattr(expected, "detach"):
        expected = expected.detach().cpu().numpy()
    if hasattr(actual, "detach"):
        actual = actual.detach().cpu().numpy()
    a, e = to_numpy(actual), to_numpy(expected)
    assert a.shape == e.shape, f"{what}: shape {a.shape} != expected {e.shape}"
    np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, err_msg=what)
