"""`xp` and `ops`: stand-ins for the current backend's array module and its kernels module.

Every attribute access (`xp.zeros`, `ops.im2col`) is looked up on NumPy or CuPy
(cpu.py or gpu.py) at that moment, so code written once against them runs on
either. The lookup is a plain attribute read of the registry's state: layers touch
these names dozens of times per call, which shows in the latency of small batches.
"""
import importlib
import types

from . import registry

_state = registry.state
_ops_modules = {}  # backend name -> its ops module (cpu.py, gpu.py), imported on first use


def _ops_module():
    name = _state.name or registry.current()
    module = _ops_modules.get(name)
    if module is None:
        module = _ops_modules[name] = importlib.import_module(f"{__package__}.{name}")
    return module


class ModuleProxy(types.ModuleType):
    """A module whose attributes are those of `self._target()`, read through on every access. Each subclass
    writes `__getattribute__` as its `_target` inlined: the extra call would cost more than the lookup."""

    def __dir__(self):
        return dir(type(self)._target())

    def __repr__(self):
        return f"<{type(self).name} -> {type(self)._target().__name__}>"


class _ArrayModule(ModuleProxy):
    name = "xp"

    @staticmethod
    def _target():
        return _state.module or _state.resolve()

    def __getattribute__(self, attr):
        return getattr(_state.module or _state.resolve(), attr)


class _Ops(ModuleProxy):
    name = "ops"
    _target = staticmethod(_ops_module)

    def __getattribute__(self, attr):
        return getattr(_ops_modules.get(_state.name) or _ops_module(), attr)


xp = _ArrayModule("xp")
ops = _Ops("ops")
