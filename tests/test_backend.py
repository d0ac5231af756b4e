"""The backend: which module `xp` is, switching, moving arrays, dtypes, seeding, info, and the GPU check."""
import importlib.util
import os
import subprocess
import sys
import types

import numpy as np
import pytest

from xpnet import backend
from xpnet.backend import cupy_check, registry
from xpnet.errors import BackendError

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


def test_unknown_env_backend_fails_at_first_use_not_at_import():
    res = _run_python("import xpnet; xpnet.backend.current()", XPNET_BACKEND="tpu")
    assert res.returncode != 0
    assert "ValueError" in res.stderr and "XPNET_BACKEND" in res.stderr and "cpu, gpu, auto" in res.stderr
    res = _run_python("import sys; from xpnet.cli import main; sys.exit(main(['--help']))", XPNET_BACKEND="tpu")
    assert res.returncode == 0 and "usage: xpnet" in res.stdout
    res = _run_python("import sys; from xpnet.cli import main; sys.exit(main(['info']))", XPNET_BACKEND="tpu")
    assert res.returncode == 1 and res.stderr == ("xpnet info: error: unknown XPNET_BACKEND value 'tpu': expected "
                                                  "one of cpu, gpu, auto\n")


@no_cupy
def test_env_auto_falls_back_to_cpu():
    res = _run_python("import xpnet; print(xpnet.backend.current())", XPNET_BACKEND="auto")
    assert res.returncode == 0 and res.stdout.strip() == "cpu", res.stderr


@no_cupy
def test_gpu_without_cupy_says_how_to_install():
    before = _state()
    with pytest.raises(BackendError, match=r'CuPy.*pip install "xpnet\[gpu\]"'):
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
    assert {"backend", "python", "numpy", "blas", "cpu", "cpu_flags", "cpu_count"} <= set(out)
    assert out["backend"] == "cpu" and out["numpy"] == np.__version__


# -- the GPU check: stand-ins for the points where a real CuPy fails ----------------------------------
class CUDARuntimeError(RuntimeError):
    """Stands in for cupy_backends.cuda.api.runtime.CUDARuntimeError."""


class DynamicLibNotFoundError(RuntimeError):
    """Stands in for cuda.pathfinder's error, which CuPy passes on for NVRTC and turns into ImportError for others."""


def _missing(lib):
    return f'Failure finding "lib{lib}.so.13": No such file: lib{lib}.so.13'


class FakeCupy(types.ModuleType):
    """A CuPy whose arrays are NumPy's and whose device, driver and libraries are what a test says."""

    def __init__(self, devices=1, driver=13000, built_for=13020, device_error=None, missing=(), compute_error=None):
        super().__init__("cupy")
        self.__version__ = "14.2.0"
        self.calls = 0
        self.missing = set(missing)

        def count():
            self.calls += 1
            if device_error:
                raise CUDARuntimeError(device_error)
            return devices

        def nvrtc_version():
            if "NVRTC" in self.missing:
                raise DynamicLibNotFoundError(_missing("nvrtc"))
            return 13, 2

        runtime = types.SimpleNamespace(getDeviceCount=count, runtimeGetVersion=lambda: built_for,
                                        driverGetVersion=lambda: driver)
        self.cuda = _FakeCuda(self, runtime, types.SimpleNamespace(getVersion=nvrtc_version))
        self.float32, self.random = np.float32, np.random
        self.compute_error = compute_error

    def ones(self, *args, **kwargs):
        if self.compute_error:
            raise CUDARuntimeError(self.compute_error)
        return np.ones(*args, **kwargs)


class _FakeCuda:
    """cupy.cuda: cublas and curand load their library on first access, as CuPy's lazy attributes do."""

    def __init__(self, cupy, runtime, nvrtc):
        self._cupy, self.runtime, self.nvrtc = cupy, runtime, nvrtc

    def _lib(self, name):
        if name in self._cupy.missing:
            raise ImportError(_missing(name.lower()))
        return types.SimpleNamespace()

    cublas = property(lambda self: self._lib("cuBLAS"))
    curand = property(lambda self: self._lib("cuRAND"))


@pytest.fixture
def fake_cupy(monkeypatch):
    """Install a FakeCupy built from the given settings as `cupy`, with no earlier check remembered."""
    monkeypatch.setattr(cupy_check, "_checked_cupy", None)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)

    def install(**settings):
        cupy = FakeCupy(**settings)
        monkeypatch.setitem(sys.modules, "cupy", cupy)
        return cupy
    return install


def _gpu_error():
    with pytest.raises(BackendError) as info:  # xpnet's own error, and a RuntimeError as code before it caught
        registry.load("gpu")
    assert isinstance(info.value, RuntimeError)
    return str(info.value)


def test_gpu_check_passes_once_and_remembers(fake_cupy):
    cupy = fake_cupy()
    assert registry.load("gpu") == ("gpu", cupy) and registry.load("auto") == ("gpu", cupy)
    assert cupy.calls == 1  # checked once per process, not at every load


def test_cupy_not_installed(fake_cupy, monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # makes `import cupy` raise ModuleNotFoundError
    message = _gpu_error()
    assert "needs CuPy, which is not installed" in message
    assert 'pip install "xpnet[gpu]" (CUDA 13) or "xpnet[cuda12]" (CUDA 12)' in message


def test_cupy_that_fails_to_import(fake_cupy, monkeypatch):
    def broken(name):
        raise ModuleNotFoundError("No module named 'cuda.pathfinder'", name="cuda.pathfinder")
    monkeypatch.setattr(cupy_check, "importlib", types.SimpleNamespace(import_module=broken))
    message = _gpu_error()
    assert "installed but fails to import (No module named 'cuda.pathfinder')" in message
    assert "pip uninstall -y cupy-cuda13x cupy-cuda12x" in message and "not installed" not in message


def test_no_driver(fake_cupy):
    fake_cupy(driver=0, device_error="cudaErrorInsufficientDriver: CUDA driver version is insufficient")
    message = _gpu_error()
    assert "needs a CUDA device but CuPy 14.2.0 (built for CUDA 13.2) finds no NVIDIA driver" in message
    assert "(cudaErrorInsufficientDriver: CUDA driver version is insufficient)" in message
    assert "install its driver" in message and "XPNET_BACKEND=cpu" in message


def test_driver_too_old_points_at_the_cuda12_build(fake_cupy):
    fake_cupy(driver=12080, device_error="cudaErrorInsufficientDriver: CUDA driver version is insufficient")
    message = _gpu_error()
    assert "finds a driver for CUDA 12.8 only" in message and "update the NVIDIA driver to one for CUDA 13" in message
    assert 'install CuPy for CUDA 12: pip install "xpnet[cuda12]"' in message


@pytest.mark.parametrize("visible", [None, ""])
def test_driver_but_no_device(fake_cupy, monkeypatch, visible):
    if visible is not None:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    fake_cupy(driver=13000, device_error="cudaErrorNoDevice: no CUDA-capable device is detected")
    message = _gpu_error()
    assert "finds the NVIDIA driver (CUDA 13.0) but no device (cudaErrorNoDevice" in message
    assert "`nvidia-smi` lists a GPU" in message
    assert ("CUDA_VISIBLE_DEVICES" in message) == (visible is not None)
    assert visible is None or "and CUDA_VISIBLE_DEVICES='' names a GPU it lists" in message


def test_zero_devices_without_an_error(fake_cupy):
    fake_cupy(devices=0)
    assert "but no device (CUDA reports 0 devices)" in _gpu_error()


@pytest.mark.parametrize("missing", [("NVRTC",), ("cuBLAS",), ("cuRAND",), ("NVRTC", "cuBLAS", "cuRAND")])
def test_missing_libraries_are_named_with_their_packages(fake_cupy, missing):
    fake_cupy(missing=missing)
    message = _gpu_error()
    assert message.startswith("the gpu backend needs CUDA libraries that CuPy 14.2.0 (for CUDA 13) cannot load:")
    packages = {"NVRTC": "nvidia-cuda-nvrtc", "cuBLAS": "nvidia-cublas", "cuRAND": "nvidia-curand"}
    for name, package in packages.items():
        assert (f"{name}, for " in message) == (name in missing), name
        assert (f'Failure finding "lib{name.lower()}.so.13"' in message) == (name in missing), name
    assert f"pip install {' '.join(packages[n] for n in missing)}, or" in message
    assert 'pip install "cupy-cuda13x[ctk]>=14,<15" (what xpnet\'s "gpu" extra brings)' in message
    assert "driver" not in message


def test_missing_libraries_for_cuda12_name_the_cu12_packages(fake_cupy):
    fake_cupy(built_for=12090, driver=12090, missing=("cuBLAS", "cuRAND"))
    message = _gpu_error()
    assert "pip install nvidia-cublas-cu12 nvidia-curand-cu12, or" in message
    assert 'pip install "cupy-cuda12x[ctk]>=14,<15" (what xpnet\'s "cuda12" extra brings)' in message


def test_a_failing_first_computation_is_reported(fake_cupy):
    fake_cupy(compute_error="cudaErrorNoKernelImageForDevice: no kernel image is available")
    message = _gpu_error()
    assert "finds a CUDA device and its libraries, but a first computation on it failed" in message
    assert "cudaErrorNoKernelImageForDevice" in message and "cupy.show_config()" in message


def test_the_three_kinds_of_failure_say_different_things(fake_cupy, monkeypatch):
    messages = []
    for settings in ({"driver": 0, "device_error": "cudaErrorInsufficientDriver: x"}, {"missing": ("cuBLAS",)}):
        fake_cupy(**settings)
        messages.append(_gpu_error())
    monkeypatch.setitem(sys.modules, "cupy", None)
    messages.append(_gpu_error())
    fixes = ["install its driver", "pip install nvidia-cublas", 'pip install "xpnet[gpu]"']
    for i, message in enumerate(messages):
        assert [fix in message for fix in fixes] == [j == i for j in range(3)], message


def test_a_check_that_breaks_is_still_a_reason(fake_cupy):
    cupy = fake_cupy(device_error="cudaErrorUnknown: x")
    cupy.cuda.runtime.driverGetVersion = None  # calling it raises TypeError
    message = _gpu_error()
    assert message.startswith("the gpu backend could not check CuPy 14.2.0 (TypeError(")
    assert 'cupy.show_config()' in message


@pytest.mark.parametrize("settings", [{"driver": 0, "device_error": "cudaErrorInsufficientDriver: x"},
                                      {"missing": ("NVRTC",)}, {"compute_error": "boom"}])
def test_auto_falls_back_quietly_on_every_failure(fake_cupy, capsys, settings):
    fake_cupy(**settings)
    assert registry.load("auto") == ("cpu", np)
    assert capsys.readouterr() == ("", "")
    assert cupy_check._checked_cupy is None  # a failed check is not remembered: it runs again next time


@pytest.mark.skipif(not HAS_CUPY, reason="CuPy is not installed: no real driver check to see")
def test_real_cupy_without_a_driver_blames_the_driver():
    cupy = importlib.import_module("cupy")
    if cupy.cuda.runtime.driverGetVersion() != 0:
        pytest.skip("this machine has an NVIDIA driver")
    assert "finds no NVIDIA driver (cudaErrorInsufficientDriver" in _gpu_error()


@pytest.mark.skipif(not HAS_CUPY, reason="CuPy is not installed: its library loading cannot be seen")
@pytest.mark.parametrize("library", cupy_check.LIBRARIES, ids=lambda library: library[0])
def test_library_loaders_reach_cupys_real_loading(library):
    """Each loader fails exactly when cuda.pathfinder, which CuPy 14 loads the libraries with, finds no file."""
    name, _, load, _ = library
    if "emulated" in importlib.import_module("cupy").__version__:
        pytest.skip("CuPy is emulated here (tests/cuda): its library loading cannot be seen")
    pathfinder = importlib.import_module("cuda.pathfinder")
    try:
        pathfinder.load_nvidia_dynamic_lib(name.lower())
        found = True
    except pathfinder.DynamicLibNotFoundError:
        found = False
    try:
        load(importlib.import_module("cupy"))
        loaded = True
    except (ImportError, RuntimeError):
        loaded = False
    assert loaded == found, name
