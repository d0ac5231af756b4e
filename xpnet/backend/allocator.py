"""How the CPU backend's arrays get their memory: glibc's malloc told to keep freed blocks for reuse.

A process-wide setting, so a library never makes it on import: the command line opts in by calling
`xpnet.backend.keep_freed_memory()`, and a program embedding xpnet may do the same.
"""
import ctypes
import ctypes.util

from .. import environment


def keep_freed_memory():
    """Make glibc's malloc keep freed memory for the next arrays instead of returning it to the system.

    A training step allocates and frees the same multi-megabyte arrays every time. By default glibc maps
    large blocks afresh and trims the heap, so each step page-faults its activations in again (system
    time, which bench/ measures). The peak memory stays the same. XPNET_KEEP_MEMORY=0 leaves malloc's
    defaults; other C libraries have no mallopt and are left alone. Returns True when the setting was made."""
    if not environment.keep_memory():
        return False
    name = ctypes.util.find_library("c")
    mallopt = getattr(ctypes.CDLL(name), "mallopt", None) if name else None
    if mallopt is None:
        return False
    mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD: blocks up to 32 MiB come from the heap, which keeps them
    mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD: give the heap's free top back only beyond 1 GiB
    return True
