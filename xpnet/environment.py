"""Every environment variable xpnet reads, read here only: one function per variable, and `VARIABLES`,
the table of (name, meaning, default) the README lists.

Each function reads the variable when called (nothing is read at import), from `environ` when given
(a mapping such as a subprocess's environment), else from the process's.
"""
import os

VARIABLES = [
    ("XPNET_BACKEND", "array backend: cpu, gpu, or auto (the GPU when CuPy finds one, else the CPU)", "cpu"),
    ("XPNET_DATA", "a folder holding mnist/ and fashion-mnist/, looked in before the cache", "unset"),
    ("XPNET_CACHE", "where data sets are downloaded to", "$XDG_CACHE_HOME/xpnet, else ~/.cache/xpnet"),
    ("XPNET_OFFLINE", "1: never download a data set", "unset (downloads allowed)"),
    ("XPNET_NUM_THREADS", "threads for elementwise passes on the CPU, read on first use", "every core this "
     "process may run on"),
    ("XPNET_KEEP_MEMORY", "0: `keep_freed_memory()` (called by the command line) leaves glibc's malloc settings "
     "alone", "unset (the command line tunes malloc)"),
    ("XPNET_CONV_ALGO", "the algorithm every Conv2D uses where it applies: im2col, im2col_flipped, shifted, "
     "winograd_f2, winograd_f4 or auto (each Conv2D times the candidates on its first call, then the winner's block "
     "sizes, and a winner other than im2col once more 50 calls later; set one for runs that repeat bit for bit)",
     "auto"),
    ("XPNET_PARITY_ALLOW_TF32", "1: the parity check accepts CuPy's TF32 matrix products (CUPY_TF32=1) and "
     "loosens the float32 tolerances for them", "unset (CUPY_TF32=1 is refused)"),
]
NAMES = [name for name, _, _ in VARIABLES]

# The libraries' own thread-count variables, which BLAS reads once, when NumPy loads: set for a child
# process (the bench at a thread count, `--workers` processes), never read by xpnet.
BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
THREAD_VARIABLES = ("XPNET_NUM_THREADS",) + BLAS_THREAD_VARIABLES  # ... and xpnet's own elementwise passes


def _get(name, environ=None):
    return (os.environ if environ is None else environ).get(name, "").strip()


def flag(name, environ=None):
    """True when the environment variable `name` is 1, true, yes or on (in any case)."""
    return _get(name, environ).lower() in ("1", "true", "yes", "on")


def _off(name, environ=None):
    """True when the environment variable `name` is 0, false, no or off (in any case)."""
    return _get(name, environ).lower() in ("0", "false", "no", "off")


def backend(environ=None):
    """XPNET_BACKEND as given (lower case; registry.py checks it), or "cpu" when unset."""
    return _get("XPNET_BACKEND", environ).lower() or "cpu"


def data_dir(environ=None):
    """XPNET_DATA with ~ expanded, or None when unset."""
    value = _get("XPNET_DATA", environ)
    return os.path.expanduser(value) if value else None


def cache_dir(environ=None):
    """XPNET_CACHE, else $XDG_CACHE_HOME/xpnet, else ~/.cache/xpnet."""
    env = os.environ if environ is None else environ
    return _get("XPNET_CACHE", environ) or os.path.join(
        env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "xpnet")


def offline(environ=None):
    """True when XPNET_OFFLINE forbids downloads."""
    return flag("XPNET_OFFLINE", environ)


def num_threads(environ=None):
    """XPNET_NUM_THREADS (at least 1), else the number of cores this process may run on."""
    wanted = _get("XPNET_NUM_THREADS", environ)
    if wanted:
        try:
            return max(1, int(wanted))
        except ValueError:
            raise ValueError(f"XPNET_NUM_THREADS must be a whole number, got {wanted!r}") from None
    return cores()


def cores():
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def keep_memory(environ=None):
    """False when XPNET_KEEP_MEMORY asks to leave malloc's settings alone (0, false, no, off)."""
    return not _off("XPNET_KEEP_MEMORY", environ)


def parity_allow_tf32(environ=None):
    """True when XPNET_PARITY_ALLOW_TF32 allows TF32 matrix products in the parity check."""
    return flag("XPNET_PARITY_ALLOW_TF32", environ)


def conv_algorithm(environ=None):
    """XPNET_CONV_ALGO in lower case (layers/conv.py checks it), or "auto" when unset."""
    return _get("XPNET_CONV_ALGO", environ).lower() or "auto"
