"""Array helpers that differ between NumPy and CuPy: moving, dtypes, seeding.

Random numbers for initialisation come from one NumPy generator on the host
and are then moved, so the same seed gives the same weights on CPU and GPU.
"""
import contextlib
import sys

import numpy

from . import registry

_default_dtype = numpy.dtype(numpy.float32)
_rng = numpy.random.default_rng()


def _is_cupy(a):
    cupy = sys.modules.get("cupy")
    return cupy is not None and isinstance(a, cupy.ndarray)


def to_numpy(a):
    """A NumPy array on the host holding `a` (copies from the GPU if needed)."""
    return a.get() if _is_cupy(a) else numpy.asarray(a)


def asarray(a, dtype=None):
    """`a` as an array of the current backend (no copy when already there)."""
    if registry.current() == "cpu":
        return numpy.asarray(to_numpy(a), dtype=dtype)
    return registry.state.module.asarray(a, dtype=dtype)


def move(a, name):
    """`a` as an array of backend `name` ("cpu" or "gpu"); None stays None."""
    if a is None:
        return None
    if registry.check_name(name) == "cpu":
        return to_numpy(a)
    _, cupy = registry.load(name)
    return cupy.asarray(a)


def is_array(a):
    """Whether `a` is an array of either backend (a NumPy or CuPy ndarray; scalars are not)."""
    return isinstance(a, numpy.ndarray) or _is_cupy(a)


def backend_of(a):
    """"gpu" for a CuPy array, "cpu" for anything else."""
    return "gpu" if _is_cupy(a) else "cpu"


LIBRARIES = {"cpu": "NumPy", "gpu": "CuPy"}


def check_backend(x, who, what="input"):
    """Raise ValueError naming `who` unless array `x` belongs to the current backend: data made on the other
    backend would otherwise fail deep inside NumPy or CuPy."""
    here, where = registry.current(), backend_of(x)
    if where != here:
        raise ValueError(f"{who} got a {where} ({LIBRARIES[where]}) {what} array, but the current backend is "
                         f"{here}: call xpnet.backend.use({where!r}) first, or pass xpnet.backend.asarray(x) "
                         f"to run on {here}")


def synchronize():
    """Wait for queued GPU work to finish (a no-op on the CPU)."""
    if registry.current() == "gpu":
        registry.state.module.cuda.get_current_stream().synchronize()


def get_default_dtype():
    """The float dtype new parameters and data get (float32 unless changed)."""
    return _default_dtype


def set_default_dtype(dtype):
    """Set the default float dtype: float32 or float64."""
    global _default_dtype
    dt = numpy.dtype(dtype)
    if dt not in (numpy.float32, numpy.float64):
        raise ValueError(f"default dtype must be float32 or float64, got {dt}")
    _default_dtype = dt


@contextlib.contextmanager
def default_dtype(dtype):
    """Run a block with another default float dtype (float64 for gradient checks)."""
    saved = _default_dtype
    set_default_dtype(dtype)
    try:
        yield
    finally:
        set_default_dtype(saved)


def seed(n):
    """Seed the host generator (weights, shuffling, dropout) and CuPy's if loaded."""
    global _rng
    _rng = numpy.random.default_rng(n)
    cupy = sys.modules.get("cupy")
    if cupy is not None and registry.state.name == "gpu":
        cupy.random.seed(n)


def rng():
    """The host NumPy generator behind xpnet's random draws."""
    return _rng


def get_rng_state():
    """The host generator's state, for checkpoints."""
    return _rng.bit_generator.state


def set_rng_state(st):
    """Restore a state from `get_rng_state`."""
    _rng.bit_generator.state = st
