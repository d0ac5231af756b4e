"""Which array library is in use: the backend names, their loading, and switching.

`cpu` is NumPy, `gpu` is CuPy, `auto` picks `gpu` when CuPy imports and a CUDA
device answers, else `cpu`. CuPy is imported only when a GPU backend is asked
for, so CPU-only machines never need it. Asking for `gpu` explicitly never
falls back to the CPU: it works or raises a RuntimeError that says why
(cupy_check.py).
"""
import contextlib

import numpy

from .. import environment
from .cupy_check import load_cupy

NAMES = ("cpu", "gpu", "auto")


def check_name(name, source="backend name"):
    """Return `name` lower-cased, or raise ValueError listing the valid names."""
    key = str(name).strip().lower()
    if key not in NAMES:
        raise ValueError(f"unknown {source} {name!r}: expected one of {', '.join(NAMES)}")
    return key


def load(name):
    """Resolve a backend name to (`"cpu"` | `"gpu"`, array module)."""
    key = check_name(name)
    if key == "cpu":
        return "cpu", numpy
    if key == "gpu":
        return "gpu", load_cupy()
    try:
        return "gpu", load_cupy()
    except RuntimeError:
        return "cpu", numpy


class _State:
    """The requested backend name and, once resolved, the module behind it."""

    def __init__(self):
        self.requested = environment.backend()  # checked when first used, so a bad value
        self.name = None                         # cannot stop `xpnet --help` at import
        self.module = None

    def resolve(self):
        if self.module is None:
            self.name, self.module = load(check_name(self.requested, "XPNET_BACKEND value"))
        return self.module


state = _State()


def use(name):
    """Switch the current backend to `name` ("cpu", "gpu" or "auto") now."""
    state.name, state.module = load(name)
    state.requested = state.name


def current():
    """The backend in use: "cpu" or "gpu"."""
    state.resolve()
    return state.name


@contextlib.contextmanager
def using(name):
    """Run a block on backend `name`, then restore the previous one."""
    saved = (state.requested, state.name, state.module)
    use(name)
    try:
        yield
    finally:
        state.requested, state.name, state.module = saved
