"""`xp` and `ops`: stand-ins for the current backend's array module and its kernels module.

Every attribute access (`xp.zeros`, `ops.im2col`) is looked up on NumPy or CuPy
(cpu.py or gpu.py) at that moment, so code written once against them runs on
either. The lookup is a plain attribute read of the registry's state: layers touch
these names dozens of times per call, which shows in the latency of small batches.
"""
import importlib
import types

from . import registry

_ops_modules = {}  # backend name -> its ops module (cpu.py, gpu.py), imported on first use


def _ops_module():
    name = registry.state.name or registry.current()
    module = _ops_modules.get(name)
    if module is None:
        module = _ops_modules[name] = importlib.import_module(f"{__package__}.{name}")
    return module


class ModuleProxy(types.ModuleType):
    """A module whose attributes are those of `self._target()`, read through on every access."""

    def __getattribute__(self, attr):
        return getattr(type(self)._target(), attr)

    def __dir__(self):
        return dir(type(self)._target())

    def __repr__(self):
        return f"<{type(self).name} -> {type(self)._target().__name__}>"


class _ArrayModule(ModuleProxy):
    name = "xp"

    @staticmethod
    def _target():
        return registry.state.module or registry.state.resolve()


class _Ops(ModuleProxy):
    name = "ops"
    _target = staticmethod(_ops_module)


xp = _ArrayModule("xp")
ops = _Ops("ops")
