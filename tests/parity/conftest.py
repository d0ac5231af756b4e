"""GPU tests here skip without CuPy or a device, with the reason in the summary, unless the GPU was asked for.

Asked for means XPNET_BACKEND=gpu or a `-m` expression selecting `gpu`: then a
missing GPU fails the test, so a GPU CI job can never pass by skipping.
"""
import functools

import pytest

from xpnet.parity import check_tf32, gpu_asked_for, gpu_status, tf32_allowed


@functools.lru_cache(maxsize=None)
def _gpu():
    return gpu_status()


def pytest_runtest_setup(item):
    if item.get_closest_marker("gpu") is None:
        return
    ok, why = _gpu()
    if ok:
        return
    if gpu_asked_for(item.config.option.markexpr):
        pytest.fail(f"the GPU was asked for (XPNET_BACKEND=gpu or -m gpu) but is unavailable: {why}", pytrace=False)
    pytest.skip(f"GPU parity skipped: {why}")


@pytest.fixture
def allow_tf32():
    """Whether TF32 is allowed; fails the test when CUPY_TF32=1 is set without permission."""
    try:
        check_tf32()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    return tf32_allowed()
