"""The CuPy stand-in keeps host and device apart as CuPy does, lays out and initialises memory as CuPy
does, and counts device operations by the rules of device_log.py; xpnet sees it as its gpu backend.
"""
import numpy as np
import pytest

from xpnet import backend

pytestmark = pytest.mark.cuda_emulated


@pytest.fixture
def cp(emulated_gpu):
    return emulated_gpu


@pytest.fixture
def ops():
    from device_log import log
    with log.counting() as block:
        yield block


def test_xpnet_runs_its_gpu_backend_on_it(cp):
    import xpnet.backend.gpu as gpu
    assert backend.current() == "gpu" and backend.xp.zeros is cp.zeros and gpu.cupy is cp
    d, h = backend.asarray(np.ones(3)), np.ones(3)
    assert isinstance(d, cp.ndarray) and not isinstance(d, np.ndarray)
    assert (backend.backend_of(d), backend.backend_of(h)) == ("gpu", "cpu")
    assert type(backend.to_numpy(d)) is np.ndarray and backend.move(d, "cpu").tolist() == [1, 1, 1]


def test_xp_and_ops_follow_every_switch_of_the_backend(cp):
    import xpnet.backend.cpu as cpu
    import xpnet.backend.gpu as gpu
    from xpnet.backend import ops, registry, xp
    assert (xp.zeros, ops.im2col) == (cp.zeros, gpu.im2col)
    with backend.using("cpu"):
        assert (xp.zeros, ops.im2col) == (np.zeros, cpu.im2col)
    assert (xp.zeros, ops.im2col) == (cp.zeros, gpu.im2col)
    saved = (registry.state.name, registry.state.module)
    registry.state.name, registry.state.module = "cpu", np  # as the tests' fixtures put the state back
    assert (xp.zeros, ops.im2col) == (np.zeros, cpu.im2col)
    registry.state.name, registry.state.module = saved
    assert (xp.zeros, ops.im2col) == (cp.zeros, gpu.im2col)


@pytest.mark.parametrize("mix", [
    lambda d, h: d + h, lambda d, h: h + d, lambda d, h: h * d, lambda d, h: np.add(d, h),
    lambda d, h: d.__iadd__(h), lambda d, h: backend.xp.maximum(d, h), lambda d, h: backend.xp.where(d > 0, d, h),
    lambda d, h: backend.xp.concatenate([d, h]), lambda d, h: np.asarray(d), lambda d, h: h.__setitem__(slice(None), d),
])
def test_host_arrays_in_device_operations_raise_type_error(cp, mix):
    with pytest.raises(TypeError, match="Unsupported type|Implicit conversion|no implementation"):
        mix(cp.asarray(np.ones(3)), np.ones(3))


def test_scalars_and_0d_host_values_are_accepted_where_cupy_takes_them(cp):
    d = cp.asarray(np.ones(3))
    got = (d + 1, d * np.float32(2), 2.0 ** d, np.exp(d))
    np.testing.assert_allclose([g.get() for g in got], [[2] * 3, [2] * 3, [2] * 3, [np.e] * 3])
    d[...] = np.array(5.0)
    with pytest.raises(ValueError, match="non-scalar numpy.ndarray"):
        d[...] = np.ones(3)
    assert d.sum().get() == 15 and isinstance(d.sum(), cp.ndarray) and d.sum().ndim == 0


def test_ufunc_outputs_are_c_contiguous_as_cupy_allocates_them(cp):
    batch_last = cp.moveaxis(cp.zeros((3, 4, 5, 2)), -1, 0)  # (N, C, H, W) stored (C, H, W, N)
    assert not batch_last.flags.c_contiguous
    assert (batch_last + 1).flags.c_contiguous and cp.maximum(batch_last, 0).flags.c_contiguous
    assert cp.moveaxis(batch_last.copy(order="K"), 0, -1).flags.c_contiguous  # asked to keep the order
    assert cp.moveaxis(batch_last.astype(np.float32), 0, -1).flags.c_contiguous


def test_new_memory_is_poisoned(cp):
    assert np.isnan(cp.empty((2, 3)).get()).all() and np.isnan(cp.empty_like(cp.zeros(4)).get()).all()
    untouched = cp.ElementwiseKernel("raw T x", "T y", "", "xpnet_test_nothing")(cp.zeros(2), size=3)
    assert np.isnan(untouched.get()).all()


def test_counts_device_operations_by_kind(cp, ops):
    a = cp.asarray(np.arange(12.0).reshape(3, 4))
    assert (ops.count("h2d"), ops.launches()) == (1, 0)
    a.T, a[1:], a.reshape(4, 3), cp.moveaxis(a, 0, 1), cp.empty(5)
    assert ops.launches() == 0  # views and empty are free
    b = a + 1
    b += a
    a.sum(), cp.zeros(3), a[[0, 2]], a.astype(np.float32), cp.zeros(0) + 1
    assert (ops.count("ufunc add"), ops.count("reduce sum"), ops.count("fill zeros")) == (2, 1, 1)
    assert ops.count("copy") == 2 and ops.launches() == 6  # advanced indexing and astype; size 0 is free
    float(b[0, 0]), b.get()
    assert ops.transfers() == 3


def test_matmul_counts_cupys_copies_of_strided_operands(cp, ops):
    a, b = cp.zeros((2, 3, 4)), cp.zeros((2, 5, 4))
    a @ b.transpose(0, 2, 1)
    assert (ops.count("matmul"), ops.count("copy matmul operand")) == (1, 1)


def test_names_shared_with_cupy_are_cupys_kind_of_object(cp):
    import cupy_private
    real = cupy_private.load().cupy
    for name, value in vars(cp).items():
        if name.startswith("_") or not hasattr(real, name):
            continue
        expected = getattr(real, name)
        assert callable(value) == callable(expected), name
