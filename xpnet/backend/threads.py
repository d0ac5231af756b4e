"""Elementwise NumPy passes split across the cores: NumPy releases the GIL inside each pass, so pieces of
one pass run in parallel in worker threads. Only worth it above a size (PARALLEL_MIN), where the work
outweighs handing it out.
"""
from concurrent.futures import ThreadPoolExecutor

import numpy

from .. import environment

THREADS = None  # threads for elementwise passes: XPNET_NUM_THREADS, read by `count()` on first use
PARALLEL_MIN = 1 << 20  # elements below which splitting a pass costs more than it saves
_pool = []  # the worker threads, started on first use


def count():
    """The threads elementwise passes split into (THREADS), read from the environment on the first call."""
    global THREADS
    if THREADS is None:
        THREADS = environment.num_threads()
    return THREADS


def in_parallel(arithmetic, *args, axis=None):
    """Run `arithmetic(*args)` in `count()` pieces along `axis` of its arrays (default: the outermost axis in
    memory of its largest array), one piece in this thread and the others in worker threads. Arrays of
    another rank, or of length 1 on that axis, go to every piece whole."""
    threads = THREADS or count()
    big = None  # the largest array (a plain loop: this runs before every elementwise pass, small ones too)
    for a in args:
        if isinstance(a, numpy.ndarray) and (big is None or a.size > big.size):
            big = a
    if threads < 2 or big is None or big.size < PARALLEL_MIN:
        return arithmetic(*args)
    given = axis is not None
    if not given:
        axis = max(range(big.ndim), key=lambda i: abs(big.strides[i]) * (big.shape[i] > 1))
    length = big.shape[axis]
    pieces = min(threads, length)
    edges = [length * k // pieces for k in range(pieces + 1)]

    def piece(k):
        cut = (slice(None),) * axis + (slice(edges[k], edges[k + 1]),)
        arithmetic(*(a[cut] if isinstance(a, numpy.ndarray) and a.ndim > axis and a.shape[axis] == length
                     and (given or a.ndim == big.ndim) else a for a in args))
    if not _pool:
        _pool.append(ThreadPoolExecutor(threads - 1, thread_name_prefix="xpnet"))
    others = [_pool[0].submit(piece, k) for k in range(1, pieces)]
    piece(0)
    for job in others:
        job.result()
