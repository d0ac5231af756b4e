"""Algorithms chosen by measurement: the first call of a problem times each candidate and keeps the fastest.

Which convolution algorithm is fastest depends on the CPU (AVX2 or AVX-512, cache sizes), the
BLAS, the GPU and the shapes, so no fixed rule carries from one machine to another; as cuDNN's
benchmark mode does, the first call for a problem (its shapes, dtype and backend: the caller's
`key`) runs every candidate a few times, round-robin, and remembers the winner for the rest of
the process. Every candidate computes the same result within the tests' tolerances, so the
choice changes speed only. Problems too small to be worth timing take the first candidate.
"""
import math
import time

from ..backend import ops, synchronize

CALLS = 3  # rounds of timing; a candidate's best round counts
SLACK = 1.5  # after a round, candidates this many times slower than the best so far are timed no more
MIN_WORK = 2e7  # floating-point operations below which nothing is timed
clock = time.perf_counter
_winners = {}  # key -> the name of the fastest candidate


def fastest(key, candidates, run, work):
    """The fastest of the names `candidates()` gives for problem `key` (asked only for a new key),
    `run(name)` running one once; timed on the first call for that key when the problem's `work`
    (operations) is at least MIN_WORK.

    Each round runs every remaining candidate twice, round-robin so that a slow spell of the machine
    hits them all, and times the second run: the first allocates its work buffers and warms the
    caches, as every call after tuning finds them. Its buffers are dropped after each timed run, so
    candidates never hold theirs together and the losers hold none afterwards."""
    winner = _winners.get(key)
    if winner is None:
        names = candidates()
        best = dict.fromkeys(names, math.inf)
        contenders = list(names) if len(names) > 1 and work >= MIN_WORK else []
        for _ in range(CALLS):
            for name in contenders:
                run(name)
                synchronize()  # on a GPU, the untimed run's kernels finish before the clock starts
                start = clock()
                run(name)
                synchronize()
                best[name] = min(best[name], clock() - start)
                ops.release_scratch()
            contenders = [name for name in contenders if best[name] <= SLACK * min(best.values())]
        winner = _winners[key] = min(names, key=best.get)  # the first one when nothing was timed
    return winner


def chosen():
    """{key: winner} of every problem timed so far in this process."""
    return dict(_winners)


def forget():
    """Drop every remembered choice (the next call of each problem times again)."""
    _winners.clear()
