"""The fused CUDA kernels of the gpu backend, their exact CUDA C bodies run on the host, against the NumPy
forms they replace: max-pooling with ties, padding, overlapping windows and strided inputs exactly; every
registered elementwise rule (backend/rules.py: optimizer updates, layer passes), its CUDA body against its
xp arithmetic on the same numbers, within a few roundings (the body may order or fuse an operation
differently).
"""
import numpy as np
import pytest

from xpnet.backend import cpu, layout, rules, using
from xpnet.layers import activation, batchnorm
from xpnet.optim import adam, rmsprop, sgd

pytestmark = pytest.mark.cuda_emulated
TOL = {np.float32: 2e-6, np.float64: 1e-14}
EXACT_ZEROS = {"relu"}  # rules whose body and arithmetic must agree on the sign of a zero too


@pytest.fixture(scope="module")
def gpu(emulated_gpu_module):
    import xpnet.backend.gpu as gpu
    return gpu


POOLS = [((2, 2), (2, 2), (0, 0), (3, 4, 8, 6)), ((3, 3), (2, 2), (1, 1), (2, 3, 7, 9)),
         ((3, 2), (1, 2), (1, 1), (2, 2, 5, 7)), ((2, 2), (3, 3), (0, 0), (1, 2, 8, 7))]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kernel, stride, padding, shape", POOLS)
@pytest.mark.parametrize("batch_last", [True, False])
def test_max_pool_kernels_route_like_numpy(gpu, emulated_gpu_module, kernel, stride, padding, shape, batch_last,
                                           dtype):
    rng = np.random.default_rng(0)
    x_host = rng.integers(-2, 3, shape).astype(dtype)  # many ties: the first maximum must win
    x_host[rng.random(shape) < 0.1] = np.nan  # and in a window with NaN, the last NaN
    x = emulated_gpu_module.asarray(x_host)
    if batch_last:
        x = layout.padded(x, (0, 0))
    y, saved = gpu.max_pool(x, kernel, stride, padding)
    dy_host = rng.standard_normal(y.shape).astype(dtype)
    dx = gpu.max_pool_backward(emulated_gpu_module.asarray(dy_host), saved)
    with using("cpu"):
        y_want, saved_want = cpu.max_pool(x_host, kernel, stride, padding)
        dx_want = cpu.max_pool_backward(dy_host, saved_want)
    np.testing.assert_array_equal(y.get(), y_want)
    np.testing.assert_array_equal(dx.get(), dx_want)


def _optimizer_arguments(rng, dtype, shape=(5, 7)):
    """case -> (arithmetic, host arguments: arrays, None for an absent state buffer, and scalars)."""
    a = lambda: rng.standard_normal(shape).astype(dtype)  # noqa: E731
    pos = lambda: rng.uniform(0.1, 1.0, shape).astype(dtype)  # noqa: E731
    return {
        "sgd": (sgd.sgd_update, [a(), a(), 0.1, 0.01]),
        "sgd_momentum": (sgd.sgd_momentum_update, [a(), a(), a(), 0.1, 0.9, 0.1, 0.01, True, False]),
        "sgd_momentum first": (sgd.sgd_momentum_update, [a(), a(), a(), 0.1, 0.9, 0.0, 0.0, False, True]),
        "adam": (adam.adam_update, [a(), a(), a(), pos(), None, 0.01, 0.9, 0.999, 0.1, False, 1e-8, 0.02, 0.3]),
        "adam amsgrad decoupled": (adam.adam_update, [a(), a(), a(), pos(), pos(), 0.01, 0.9, 0.99, 0.1, True,
                                                          1e-8, 0.02, 0.3]),
        "rmsprop": (rmsprop.rmsprop_update, [a(), a(), pos(), None, None, 0.01, 0.99, 1e-8, 0.1, 0.0]),
        "rmsprop centered momentum": (rmsprop.rmsprop_update, [a(), a(), pos() + 1, a() * 0.1, a(), 0.01, 0.9,
                                                                   1e-8, 0.0, 0.5]),
    }


def _layer_arguments(rng, dtype):
    c, p = 4, 9
    a = lambda *s: rng.standard_normal(s).astype(dtype)  # noqa: E731
    pos = lambda *s: rng.uniform(0.5, 2.0, s).astype(dtype)  # noqa: E731
    return {
        "relu": (activation.relu, [np.append(a(57), [np.nan, -np.nan, -0.0]).reshape(3, 4, 5).astype(dtype),
                                    np.empty((3, 4, 5), dtype)]),
        "relu_grad": (activation.relu_grad, [a(3, 4, 5), a(3, 4, 5), np.empty((3, 4, 5), dtype)]),
        "scale_shift": (batchnorm.scale_shift, [a(c, p), a(c, 1), a(c, 1), np.empty((c, p), dtype)]),
        "normalized_grad": (batchnorm.normalized_grad, [a(c, p), a(c, p), a(c, 1), a(c, 1), a(c, 1),
                                                        np.empty((c, p), dtype)]),
        "channel_affine": (batchnorm.channel_affine, [a(c), pos(c), a(c), a(c), 1e-5] + [np.empty(c, dtype)
                                                                                    for _ in range(3)]),
        "running_average": (batchnorm.running_average, [a(c), pos(c), 0.9, 0.1, 0.1 * 9 / 8, a(c), pos(c)]),
        "grad_factors": (batchnorm.grad_factors, [pos(c), a(c), a(c), a(c), 1 / 9] + [np.empty(c, dtype)
                                                                                     for _ in range(3)]),
    }


def _cases():
    return sorted(set(_optimizer_arguments(np.random.default_rng(0), np.float32))
                  | set(_layer_arguments(np.random.default_rng(0), np.float32)))


def test_every_registered_rule_has_a_case():
    covered = {case.split()[0] for case in _cases()}
    assert set(rules.RULES) == covered, f"rules without a case here: {sorted(set(rules.RULES) - covered)}"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", _cases())
def test_fused_kernels_compute_what_their_arithmetic_does(gpu, emulated_gpu_module, case, dtype):
    rng = np.random.default_rng(1)
    rule, host = {**_optimizer_arguments(rng, dtype), **_layer_arguments(rng, dtype)}[case]
    assert rules.RULES[case.split()[0]] is rule
    device = [emulated_gpu_module.asarray(v) if isinstance(v, np.ndarray) else v for v in host]
    gpu.run_elementwise(rule, *device)
    with using("cpu"):
        rule.arithmetic(*host)
    scratch = {"normalized_grad": 1}.get(rule.name)  # an argument the NumPy form uses as scratch space
    for i, (want, got) in enumerate(zip(host, device)):
        if isinstance(want, np.ndarray) and i != scratch:
            np.testing.assert_allclose(got.get(), want, rtol=TOL[dtype], atol=TOL[dtype], err_msg=f"argument {i}")
            if rule.name in EXACT_ZEROS:
                np.testing.assert_array_equal(np.signbit(got.get()), np.signbit(want), err_msg=f"argument {i} signs")
