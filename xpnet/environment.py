"""The environment variables xpnet reads, and how a yes/no one is read.

- XPNET_BACKEND: cpu (default), gpu or auto (backend/registry.py).
- XPNET_DATA, XPNET_CACHE: where data sets are looked for and downloaded to (data/datasets.py).
- XPNET_OFFLINE: never download a data set.
- XPNET_NUM_THREADS: threads for elementwise passes on the CPU (default: every core; backend/threads.py).
- XPNET_KEEP_MEMORY=0: leave glibc's malloc settings alone (backend/allocator.py).
- XPNET_CONV_ALGO: the convolution algorithm every Conv2D uses where it applies (layers/conv.py).
- XPNET_PARITY_ALLOW_TF32, and CuPy's CUPY_TF32: TF32 matrix products in the parity check (parity/runner.py).
"""
import os


def flag(name):
    """True when the environment variable `name` is 1, true, yes or on (in any case)."""
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def conv_algorithm(environ=None):
    """XPNET_CONV_ALGO in lower case (layers/conv.py checks it), or "auto" when unset."""
    value = (os.environ if environ is None else environ).get("XPNET_CONV_ALGO", "").strip().lower()
    return value or "auto"
