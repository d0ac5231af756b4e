"""`info()`: what the current backend runs on, for `xpnet info` and bench reports."""
import os
import platform

import numpy

from . import registry


def _blas():
    try:
        deps = numpy.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{deps.get('name', '?')} {deps.get('version', '')}".strip()
    except Exception:  # show_config's layout is not a stable API
        return "unknown"


def _cpuinfo(field):
    """The first `field` line's value in /proc/cpuinfo (Linux), or None."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.split(":", 1)[0].strip() == field:
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _cpu_model():
    """The processor's marketing name, else what platform knows."""
    return _cpuinfo("model name") or platform.processor() or platform.machine()


def _vector_flags():
    """The processor's widest vector instruction sets (which kernels BLAS and NumPy can pick), e.g.
    "avx2 fma avx512f", or "unknown" where /proc/cpuinfo has no flags."""
    flags = (_cpuinfo("flags") or "").split()
    found = [f for f in ("avx2", "fma", "avx512f") if f in flags]
    return " ".join(found) if flags else "unknown"


def info():
    """A dict of versions, device and BLAS for the current backend."""
    out = {
        "backend": registry.current(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "blas": _blas(),
        "cpu": _cpu_model(),
        "cpu_flags": _vector_flags(),
        "cpu_count": os.cpu_count(),
    }
    if registry.current() == "gpu":
        cupy = registry.state.module
        dev = cupy.cuda.Device()
        props = cupy.cuda.runtime.getDeviceProperties(dev.id)
        name = props["name"]
        out.update({
            "cupy": cupy.__version__,
            "device": name.decode() if isinstance(name, bytes) else name,
            "compute_capability": dev.compute_capability,
            "cuda_runtime": cupy.cuda.runtime.runtimeGetVersion(),
            "cuda_driver": cupy.cuda.runtime.driverGetVersion(),
        })
    return out
