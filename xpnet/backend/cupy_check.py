"""Loading CuPy for the gpu backend, and proving, once per process, that it can run here.

A GPU install fails in three ways, each told apart with its own message and fix:
CuPy not installed; no NVIDIA driver or no device; CUDA libraries that CuPy loads
on first use (NVRTC, cuBLAS, cuRAND) missing, as on a machine with only the driver
when CuPy came without its `[ctk]` extra.
"""
import importlib
import os

from ..errors import BackendError

_EXTRA = {13: "gpu", 12: "cuda12"}  # xpnet's pip extra for each CUDA major version CuPy is built for
_INSTALL_HINT = 'pip install "xpnet[gpu]" (CUDA 13) or "xpnet[cuda12]" (CUDA 12)'
_SHOW_CONFIG = 'python3 -c "import cupy; cupy.show_config()"'  # CuPy's own report of its setup

# The CUDA libraries xpnet needs beyond the runtime CuPy carries: name, what needs it, how CuPy loads it
# (each raises when the library's file is missing), and its pip package (CUDA 12's end in "-cu12").
LIBRARIES = (
    ("NVRTC", "xpnet's kernels and CuPy's reductions", lambda cupy: cupy.cuda.nvrtc.getVersion(),
     "nvidia-cuda-nvrtc"),
    ("cuBLAS", "matrix products", lambda cupy: cupy.cuda.cublas, "nvidia-cublas"),
    ("cuRAND", "Dropout's random draws", lambda cupy: cupy.cuda.curand, "nvidia-curand"),
)

_checked_cupy = None  # CuPy once it has passed every check, so later loads cost nothing


def _import_cupy():
    try:
        return importlib.import_module("cupy")
    except ModuleNotFoundError as exc:
        if exc.name != "cupy":
            raise _broken_cupy(exc) from exc
        raise BackendError(f"the gpu backend needs CuPy, which is not installed; {_INSTALL_HINT}") from exc
    except ImportError as exc:
        raise _broken_cupy(exc) from exc


def _broken_cupy(exc):
    return BackendError(f"the gpu backend needs CuPy, which is installed but fails to import ({exc}); reinstall "
                        f"it: pip uninstall -y cupy-cuda13x cupy-cuda12x, then {_INSTALL_HINT}")


def _version(number):
    """CUDA's version number (13020) as text ("13.2")."""
    return f"{number // 1000}.{number % 1000 // 10}"


def _device_problem(cupy):
    """None when a CUDA device answers, else a message naming what is missing and what fixes it."""
    runtime = cupy.cuda.runtime
    try:
        if runtime.getDeviceCount() > 0:
            return None
        came = "CUDA reports 0 devices"
    except Exception as exc:  # CUDARuntimeError: cudaErrorInsufficientDriver, cudaErrorNoDevice, ...
        came = str(exc)
    built_for = runtime.runtimeGetVersion()
    driver = runtime.driverGetVersion()  # 0 when no NVIDIA driver is installed
    head = f"the gpu backend needs a CUDA device but CuPy {cupy.__version__} (built for CUDA {_version(built_for)})"
    cpu = "or run on the CPU with XPNET_BACKEND=cpu"
    if driver == 0:
        return (f"{head} finds no NVIDIA driver ({came}); on a machine with an NVIDIA GPU install its driver "
                f"(then `nvidia-smi` lists the GPU), {cpu}")
    if driver // 1000 < built_for // 1000:
        older = next((f'; or keep this driver and install CuPy for CUDA {major}: pip install "xpnet[{extra}]"'
                      for major, extra in _EXTRA.items() if major <= driver // 1000), "")
        return (f"{head} finds a driver for CUDA {_version(driver)} only ({came}); update the NVIDIA driver "
                f"to one for CUDA {built_for // 1000}{older}, {cpu}")
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    hidden = f" and CUDA_VISIBLE_DEVICES={visible!r} names a GPU it lists" if visible is not None else ""
    return (f"{head} finds the NVIDIA driver (CUDA {_version(driver)}) but no device ({came}); check that "
            f"`nvidia-smi` lists a GPU{hidden}, {cpu}")


def _library_problem(cupy):
    """None when CuPy loads every library in LIBRARIES, else a message naming the missing ones and their packages."""
    missing = []
    for name, use, load, package in LIBRARIES:
        try:
            load(cupy)
        except Exception as exc:  # ImportError (cuBLAS, cuRAND) or cuda.pathfinder's DynamicLibNotFoundError
            missing.append((name, use, package, str(exc).splitlines()[0] if str(exc) else type(exc).__name__))
    if not missing:
        return None
    major = cupy.cuda.runtime.runtimeGetVersion() // 1000
    suffix = "" if major >= 13 else f"-cu{major}"  # CUDA 12's packages carry the version in their names
    what = "; ".join(f"{name}, for {use} ({error})" for name, use, _, error in missing)
    packages = " ".join(package + suffix for _, _, package, _ in missing)
    extra = f' (what xpnet\'s "{_EXTRA[major]}" extra brings)' if major in _EXTRA else ""
    return (f"the gpu backend needs CUDA libraries that CuPy {cupy.__version__} (for CUDA {major}) cannot load: "
            f"{what}. Install {'it' if len(missing) == 1 else 'them'}: pip install {packages}, or all of CUDA's "
            f"libraries for CuPy: "
            f'pip install "cupy-cuda{major}x[ctk]>=14,<15"{extra}')


def _first_computation_problem(cupy):
    """None when a matrix product, a reduction and a random draw run on the device, else why not."""
    try:
        x = cupy.ones((2, 2), dtype=cupy.float32)
        (x @ x).sum().item()
        cupy.random.RandomState(0).random_sample(1).item()  # its own generator: the seeded one stays untouched
    except Exception as exc:  # CuPy raises CUDA, NVRTC and compiler error types here
        return (f"CuPy {cupy.__version__} finds a CUDA device and its libraries, but a first computation on it "
                f"failed ({exc}); CuPy's own report of the setup: {_SHOW_CONFIG}")
    return None


def load_cupy():
    """CuPy, after proving it imports, a device answers, its libraries load and a first computation runs;
    otherwise a BackendError (a RuntimeError) saying which of these failed and the command that fixes it."""
    global _checked_cupy
    if _checked_cupy is None:
        cupy = _import_cupy()
        try:
            problem = _device_problem(cupy) or _library_problem(cupy) or _first_computation_problem(cupy)
        except Exception as exc:  # a check itself broke: that too is a reason, so `auto` still falls back
            problem = (f"the gpu backend could not check CuPy {cupy.__version__} ({exc!r}); "
                       f"its own report: {_SHOW_CONFIG}")
        if problem:
            raise BackendError(problem)
        _checked_cupy = cupy
    return _checked_cupy
