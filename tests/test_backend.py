"""The backend: which module `xp` is, switching, moving arrays, dtypes, seeding, info."""
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

from xpnet import backend
from xpnet.backend import registry

HAS_CUPY = importlib.util.find_spec("cupy") is not None
no_cupy = pytest.mark.skipif(HAS_CUPY, reason="CuPy is installed: the CPU-only behaviour cannot be seen")


def _state():
    s = registry.state
    return s.requested, s.name, s.module


@pytest.fixture
def on_cpu():
    """Run a test on the cpu backend and put the previous one back after."""
    with backend.using("cpu"):
        yield


def _run_python(code, **env):
    """Run `code` in a fresh interpreter (so XPNET_BACKEND is read at import) and return the result."""
    full_env = {**os.environ, **env}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full_env,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_xp_is_numpy_on_cpu(on_cpu):
    assert backend.current() == "cpu"
    assert type(backend.xp.zeros(3)) is np.ndarray
    assert backend.xp.float32 is np.float32 and "numpy" in repr(backend.xp)
    assert repr(backend.ops).endswith("xpnet.backend.cpu>")


def test_use_switches_and_names_are_case_insensitive():
    saved = _state()
    try:
        backend.use(" CPU ")
        assert backend.current() == "cpu" and registry.state.requested == "cpu"
    finally:
        registry.state.requested, registry.state.name, registry.state.module = saved


def test_using_restores_even_after_an_error():
    before = _state()
    with pytest.raises(KeyError):
        with backend.using("cpu"):
            assert backend.current() == "cpu"
            raise KeyError("boom")
    assert _state() == before


def test_unknown_name_lists_the_valid_ones():
    before = _state()
    message = r"unknown backend name 'tpu'.*cpu, gpu, auto"
    with pytest.raises(ValueError, match=message):
        backend.use("tpu")
    with pytest.raises(ValueError, match=message):
        with backend.using("tpu"):
            pass
    with pytest.raises(ValueError, match=message):
        backend.move(np.zeros(1), "tpu")
    assert _state() == before


def test_unknown_env_backend_fails_at_import():
    res = _run_python("import xpnet", XPNET_BACKEND="tpu")
    assert res.returncode != 0
    assert "ValueError" in res.stderr and "XPNET_BACKEND" in res.stderr and "cpu, gpu, auto" in res.stderr


@no_cupy
def test_env_auto_falls_back_to_cpu():
    res = _run_python("import xpnet; print(xpnet.backend.current())", XPNET_BACKEND="auto")
    assert res.returncode == 0 and res.stdout.strip() == "cpu", res.stderr


@no_cupy
def test_gpu_without_cupy_says_how_to_install():
    before = _state()
    with pytest.raises(RuntimeError, match=r'CuPy.*pip install "xpnet\[gpu\]"'):
        backend.use("gpu")
    with pytest.raises(RuntimeError, match=r"pip install"):
        backend.move(np.zeros(1), "gpu")
    assert _state() == before
    assert "cupy" not in sys.modules


@no_cupy
def test_auto_falls_back_to_cpu():
    with backend.using("auto"):
        assert backend.current() == "cpu" and type(backend.xp.ones(1)) is np.ndarray


def test_to_numpy_asarray_move_backend_of(on_cpu):
    a = np.arange(6.0).reshape(2, 3)
    assert backend.to_numpy(a) is a and backend.asarray(a) is a  # no copies when already there
    assert backend.to_numpy([1, 2]).tolist() == [1, 2]
    f32 = backend.asarray([[1, 2], [3, 4]], np.float32)
    assert f32.dtype == np.float32 and f32.shape == (2, 2)
    assert backend.asarray(a, np.float32).dtype == np.float32 and a.dtype == np.float64
    assert backend.asarray(np.arange(3)).dtype.kind == "i"  # dtype kept unless asked
    moved = backend.move(a, "cpu")
    assert type(moved) is np.ndarray and np.array_equal(moved, a)
    assert backend.move(None, "gpu") is None
    assert backend.backend_of(a) == "cpu" and backend.backend_of(3.0) == "cpu"
    backend.synchronize()  # a no-op on the CPU, must not fail


def test_seed_reproduces_draws_and_state_round_trips():
    backend.seed(42)
    a = backend.rng().standard_normal(5)
    backend.seed(42)
    state = backend.get_rng_state()
    b = backend.rng().standard_normal(5)
    c = backend.rng().standard_normal(5)
    backend.set_rng_state(state)
    assert np.array_equal(a, b) and not np.array_equal(b, c)
    assert np.array_equal(backend.rng().standard_normal(5), b)
    backend.seed(43)
    assert not np.array_equal(backend.rng().standard_normal(5), a)


def test_default_dtype_context_restores():
    assert backend.get_default_dtype() == np.float32
    with pytest.raises(RuntimeError):
        with backend.default_dtype("float64"):
            assert backend.get_default_dtype() == np.float64
            raise RuntimeError
    assert backend.get_default_dtype() == np.float32
    for bad in (np.int32, np.float16):
        with pytest.raises(ValueError, match=r"float32 or float64, got"):
            backend.set_default_dtype(bad)
    assert backend.get_default_dtype() == np.float32


def test_info_keys(on_cpu):
    out = backend.info()
    assert {"backend", "python", "numpy", "blas", "cpu", "cpu_count"} <= set(out)
    assert out["backend"] == "cpu" and out["numpy"] == np.__version__
