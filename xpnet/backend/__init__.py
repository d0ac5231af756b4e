"""The one place that knows NumPy from CuPy.

`xp` is the array module of the current backend; `ops` holds the few kernels
whose fastest form differs between backends (im2col, col2im, ...), with one
signature for both (cpu.py, gpu.py); `layout` says how image arrays lie in
memory. Everything else in xpnet computes through these.

Importing it changes nothing process-wide; `keep_freed_memory()` (malloc tuning for the CPU
backend) is the caller's choice, which the command line makes.
"""
from .arrays import (LIBRARIES, asarray, backend_of, check_backend, default_dtype, get_default_dtype, get_rng_state,
                     is_array, move, rng, seed, set_default_dtype, set_rng_state, synchronize, to_numpy)
from . import layout
from .allocator import keep_freed_memory
from .info import info
from .proxy import ops, xp
from .registry import NAMES, current, use, using

__all__ = ["LIBRARIES", "NAMES", "asarray", "backend_of", "check_backend", "current", "default_dtype",
           "get_default_dtype", "get_rng_state", "info", "is_array", "keep_freed_memory", "layout", "move",
           "ops", "rng", "seed", "set_default_dtype", "set_rng_state", "synchronize", "to_numpy", "use",
           "using", "xp"]
