"""Algorithms chosen by measurement: the first call of a problem times each candidate and keeps the fastest.

Which convolution algorithm is fastest depends on the CPU (AVX2 or AVX-512, cache sizes), the
BLAS, the GPU and the shapes, so no fixed rule carries from one machine to another; as cuDNN's
benchmark mode does, the first call for a problem (its shapes, dtype and backend: the caller's
`key`) runs every candidate a few times, round-robin, and remembers the winner for the rest of
the process (after timing it once more against the first candidate, see `fastest`). Conv2D asks
twice: for the algorithm, then for the size of the blocks that algorithm runs in. Every
candidate computes the same result within the tests' tolerances, so the choice changes speed
only. Problems too small to be worth timing take the first candidate.
"""
import math
import statistics
import time

from ..backend import ops, synchronize

ROUNDS = 3  # rounds of timing; a candidate's median round counts
SLACK = 1.5  # after a round, a candidate whose fastest run is this many times another's slowest is timed no more
RECHECK = 50  # further calls after which a winner other than the first candidate is timed against it again
MIN_WORK = 2e7  # floating-point operations below which nothing is timed
clock = time.perf_counter
_winners = {}  # key -> the fastest candidate (an algorithm's name, a block size)
_rechecks = {}  # key -> [calls left, the first candidate], for a winner to be timed against it once more


def fastest(key, candidates, run, work):
    """The fastest of the candidates `candidates()` lists for problem `key` (asked only for a new key),
    `run(candidate)` running one once; timed on the first call for that key when the problem's `work`
    (operations) is at least MIN_WORK.

    Each round runs every remaining candidate twice, round-robin so that a slow spell of the machine
    hits them all, and times the second run: the first allocates its work buffers and warms the
    caches, as every call after tuning finds them. Its buffers are dropped after each timed run, so
    candidates never hold theirs together and the losers hold none afterwards. The winner has the
    lowest median time (one lucky run does not make it). A slow spell of a shared machine while tuning
    favours the candidate it slows least (the one moving the least memory), which would then stay for
    the whole process: so a candidate other than the first wins only if it was faster than the first's
    median in every round, and it is timed against the first once more, RECHECK calls later, the faster
    of the two kept."""
    winner = _winners.get(key)
    if winner is None:
        names = candidates()
        winner = _winners[key] = _timed(names, run, work)
        if winner != names[0]:
            _rechecks[key] = [RECHECK, names[0]]
    elif key in _rechecks:
        recheck = _rechecks[key]
        recheck[0] -= 1
        if recheck[0] <= 0:
            del _rechecks[key]
            winner = _winners[key] = _timed([recheck[1], winner], run, work)
    return winner


def _timed(names, run, work):
    """The candidate of `names` with the lowest median timed run, of those never dropped and, while the first
    candidate is one of them, whose every run beat the first's median (else near-ties would go to whichever
    the noise favoured); the first when the problem is too small to time."""
    times = {name: [] for name in names}
    contenders = list(names) if len(names) > 1 and work >= MIN_WORK else []
    for _ in range(ROUNDS):
        for name in contenders:
            run(name)
            synchronize()  # on a GPU, the untimed run's kernels finish before the clock starts
            start = clock()
            run(name)
            synchronize()
            times[name].append(clock() - start)
            ops.release_scratch()
        bar = SLACK * min((max(times[name]) for name in contenders), default=0)
        contenders = [name for name in contenders if min(times[name]) <= bar]
    if names[0] in contenders:
        bar = statistics.median(times[names[0]])
        contenders = [name for name in contenders if name == names[0] or max(times[name]) < bar]
    return min(contenders or names, key=lambda name: statistics.median(times[name]) if times[name] else math.inf)


def chosen():
    """{key: winner} of every problem timed so far in this process (Conv2D's: algorithms, and block sizes
    under the algorithm's key with the algorithm and the sizes added)."""
    return dict(_winners)


def forget():
    """Drop every remembered choice (the next call of each problem times again)."""
    _winners.clear()
    _rechecks.clear()
