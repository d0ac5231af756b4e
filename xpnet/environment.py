"""Every environment variable xpnet reads, read here only: one function per variable, and `VARIABLES`,
the table of (name, meaning, default) the README lists.

Each function reads the variable when called (nothing is read at import), from `environ` when given
(a mapping such as a subprocess's environment), else from the process's. A value outside what the
variable accepts raises ConfigError naming the variable, the value and what it accepts (XPNET_BACKEND:
backend/registry.py checks it where it is first used).
"""
import os

from .errors import ConfigError, shown

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


YES, NO = ("1", "true", "yes", "on"), ("0", "false", "no", "off")  # a yes/no variable's spellings, any case
MAX_THREADS = 1024  # more threads than this for one elementwise pass is a typo, not a machine


def flag(name, environ=None):
    """True when the environment variable `name` (another library's: CUPY_TF32) is 1, true, yes or on."""
    return _get(name, environ).lower() in YES


def _yes_no(name, default, environ=None):
    """The yes/no variable `name`: `default` when unset or empty, else one of YES or NO (ConfigError otherwise)."""
    value = _get(name, environ)
    if not value:
        return default
    if value.lower() not in YES + NO:
        raise ConfigError(f"{name} must be one of {', '.join(YES + NO)} (in any case) or unset, got {shown(value)}")
    return value.lower() in YES


def backend(environ=None):
    """XPNET_BACKEND as given (lower case; registry.py checks it), or "cpu" when unset."""
    return _get("XPNET_BACKEND", environ).lower() or "cpu"


def data_dir(environ=None):
    """XPNET_DATA with ~ expanded, or None when unset; ConfigError when it names no folder."""
    value = _get("XPNET_DATA", environ)
    if value and not os.path.isdir(os.path.expanduser(value)):
        raise ConfigError(f"XPNET_DATA must be a folder holding mnist/ or fashion-mnist/, or unset; got "
                          f"{shown(value)}, which is not a folder")
    return os.path.expanduser(value) if value else None


def cache_dir(environ=None):
    """XPNET_CACHE, else $XDG_CACHE_HOME/xpnet, else ~/.cache/xpnet."""
    env = os.environ if environ is None else environ
    return _get("XPNET_CACHE", environ) or os.path.join(
        env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "xpnet")


def offline(environ=None):
    """True when XPNET_OFFLINE forbids downloads."""
    return _yes_no("XPNET_OFFLINE", False, environ)


def num_threads(environ=None):
    """XPNET_NUM_THREADS (1 to MAX_THREADS), else the number of cores this process may run on."""
    wanted = _get("XPNET_NUM_THREADS", environ)
    if not wanted:
        return cores()
    if not (wanted.isascii() and wanted.isdigit() and 1 <= int(wanted) <= MAX_THREADS):
        raise ConfigError(f"XPNET_NUM_THREADS must be a whole number from 1 to {MAX_THREADS} or unset (every core), "
                          f"got {shown(wanted)}")
    return int(wanted)


def cores():
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def keep_memory(environ=None):
    """False when XPNET_KEEP_MEMORY asks to leave malloc's settings alone (0, false, no, off)."""
    return _yes_no("XPNET_KEEP_MEMORY", True, environ)


def parity_allow_tf32(environ=None):
    """True when XPNET_PARITY_ALLOW_TF32 allows TF32 matrix products in the parity check."""
    return _yes_no("XPNET_PARITY_ALLOW_TF32", False, environ)


def conv_algorithm(environ=None):
    """XPNET_CONV_ALGO in lower case: auto (also when unset) or one of Conv2D's algorithms (ConfigError otherwise)."""
    value = _get("XPNET_CONV_ALGO", environ)
    if value.lower() in ("", "auto"):  # the common case first: every Conv2D call without a choice reads it
        return "auto"
    from .layers.conv import ALGORITHMS  # here, not at the top: layers/conv.py imports this module
    if value.lower() not in ALGORITHMS:
        raise ConfigError(f"XPNET_CONV_ALGO must be auto or one of {', '.join(ALGORITHMS)} (in any case) or unset, "
                          f"got {shown(value)}")
    return value.lower()


def check(environ=None):
    """Read every variable above that xpnet checks, so that a bad value stops a command at its start even where
    the command would not have read it (XPNET_NUM_THREADS on the GPU, say). ConfigError as each reader raises."""
    for read in (data_dir, offline, num_threads, keep_memory, parity_allow_tf32, conv_algorithm):
        read(environ)
