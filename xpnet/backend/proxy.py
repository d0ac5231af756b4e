"""`xp`: a stand-in for the array module that follows the current backend.

Every attribute access (`xp.zeros`, `xp.float32`) is looked up on NumPy or
CuPy at that moment, so code written once against `xp` runs on either.
"""
import types

from . import registry


class ModuleProxy(types.ModuleType):
    """Forwards attribute access to the module chosen by `pick()`."""

    def __init__(self, name, pick):
        super().__init__(name)
        self._pick = pick

    def __getattr__(self, attr):
        return getattr(self._pick(), attr)

    def __dir__(self):
        return dir(self._pick())

    def __repr__(self):
        return f"<{self.__name__} -> {self._pick().__name__}>"


xp = ModuleProxy("xp", registry.state.resolve)
