"""Run xpnet's gpu backend on the CuPy stand-in: `emulated_gpu()` installs fakecupy as sys.modules["cupy"]
(and cupyx.scipy.special for GELU's erf), imports xpnet.backend.kernels and .gpu against it, switches
xpnet to the "gpu" backend, and on exit puts back the real CuPy (or its absence), those modules and
the backend that was in use.

`requirements(host=True)` says why the stand-in cannot run here (None when it can): it needs CuPy 14
for code generation, and for running kernel bodies a host C++ compiler.
"""
import contextlib
import importlib
import math
import sys
import types

import numpy

import cupy_private
import host_kernels

_BACKEND_MODULES = ("xpnet.backend.kernels", "xpnet.backend.gpu")
_CUPY_MODULES = ("cupy", "cupyx", "cupyx.scipy", "cupyx.scipy.special")


def requirements(host=True):
    """None when the stand-in can run kernels (`host`) or just plan them; else the reason it cannot."""
    try:
        cupy_private.load()
    except cupy_private.Unavailable as exc:
        return str(exc)
    if host and host_kernels.compiler() is None:
        return "no host C++ compiler to run CUDA kernel bodies on (install g++ or set CXX)"
    return None


def _cupyx(fake):
    """cupyx with scipy.special.erf as a ufunc of the stand-in (math.erf on each element)."""
    erf_host = numpy.frompyfunc(math.erf, 1, 1)

    class _Erf:
        nin, nout, __name__ = 1, 1, "erf"

        def __call__(self, x, out=None, dtype=None, casting=None):
            r = erf_host(x).astype(numpy.result_type(x, numpy.float32) if dtype is None else dtype)
            if out is not None:
                out[0][...] = r
                return out[0]
            return r

    special = types.ModuleType("cupyx.scipy.special")
    special.erf = fake.ufunc(_Erf(), "erf")
    scipy = types.ModuleType("cupyx.scipy")
    scipy.special = special
    cupyx = types.ModuleType("cupyx")
    cupyx.scipy = scipy
    return {"cupyx": cupyx, "cupyx.scipy": scipy, "cupyx.scipy.special": special}


@contextlib.contextmanager
def emulated_gpu(execute=True):
    """xpnet on the "gpu" backend with the CuPy stand-in for the block; yields the fakecupy module.
    `execute=False` plans and counts kernel launches without running their bodies."""
    cupy_private.load()  # the real CuPy's modules are imported (and kept) before the swap
    import fakecupy
    import xpnet.backend as backend
    from xpnet.backend import cupy_check, proxy, registry
    saved_modules = {name: sys.modules.get(name) for name in _CUPY_MODULES + _BACKEND_MODULES}
    saved_attrs = {name: getattr(backend, name.rsplit(".", 1)[1], None) for name in _BACKEND_MODULES}
    saved_state = (registry.state.requested, registry.state.name, registry.state.module)
    saved_checked, saved_kernels = cupy_check._checked_cupy, dict(proxy._ops_modules)
    saved_settings = vars(fakecupy.settings).copy()
    try:
        sys.modules.update({"cupy": fakecupy, **_cupyx(fakecupy)})
        cupy_check._checked_cupy = None  # the stand-in must pass the GPU check itself
        proxy._ops_modules.pop("gpu", None)  # `ops` finds the gpu.py imported below
        for name in _BACKEND_MODULES:
            sys.modules.pop(name, None)
            importlib.import_module(name)
        fakecupy.settings.execute = execute
        backend.use("gpu")
        yield fakecupy
    finally:
        registry.state.requested, registry.state.name, registry.state.module = saved_state
        cupy_check._checked_cupy = saved_checked
        proxy._ops_modules.clear()
        proxy._ops_modules.update(saved_kernels)
        vars(fakecupy.settings).update(saved_settings)
        for name, module in saved_modules.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
        for name, module in saved_attrs.items():
            attr = name.rsplit(".", 1)[1]
            if module is None:
                backend.__dict__.pop(attr, None)
            else:
                setattr(backend, attr, module)
