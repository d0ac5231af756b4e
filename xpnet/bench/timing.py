"""Timing with warm-up, repetitions and medians; GPU work is synchronised before each clock read.

`measure_side_by_side` times several callables in alternation, repetition by repetition, so a
slow spell of a shared machine falls on all of them alike and their ratio stays meaningful.
"""
import math
import statistics
import time
from dataclasses import dataclass


@dataclass
class Timing:
    """Seconds per call over `runs` repetitions, with each repetition's time in `samples`."""

    median: float
    min: float
    max: float
    runs: int
    samples: tuple = ()

    @classmethod
    def of(cls, samples):
        return cls(statistics.median(samples), min(samples), max(samples), len(samples), tuple(samples))


@dataclass
class Timed:
    """One callable to time: `fn()`, `sync()` waits for its queued device work, `setup()` runs before
    each call off the clock (e.g. the forward pass before a timed backward pass)."""

    fn: object
    sync: object = lambda: None
    setup: object = None


def _clock(job, number):
    """Seconds per call of `number` calls of `job`.

    Without a setup the calls run back to back and the device is synchronised once,
    so GPU launches overlap as they do in real use.
    """
    if job.setup is None:
        start = time.perf_counter()
        for _ in range(number):
            job.fn()
        job.sync()
        return (time.perf_counter() - start) / number
    total = 0.0
    for _ in range(number):
        job.setup()
        job.sync()
        start = time.perf_counter()
        job.fn()
        job.sync()
        total += time.perf_counter() - start
    return total / number


def _calls_per_repetition(job, warmup, number, min_time):
    """Run the warm-up calls; with `min_time`, raise `number` so a repetition lasts that long."""
    per_call = None
    for _ in range(max(warmup, 1 if min_time else 0)):
        per_call = _clock(job, 1)
    if min_time and per_call is not None:
        number = max(number, math.ceil(min_time / max(per_call, 1e-9)))
    return number


def measure_side_by_side(jobs, repeat=5, warmup=1, number=1, min_time=None, settle=0.0):
    """A Timing per `Timed` job: each repetition times every job once, in list order and then in
    reverse order on the next repetition, so that no job always runs first.

    With several jobs, `settle` seconds pass before each: BLAS and OpenMP worker threads keep spinning
    for a while after a call (OpenBLAS for about 2**28 cycles, ~0.1 s) and would otherwise take a core
    from the job that follows, the other library's."""
    numbers = [_calls_per_repetition(job, warmup, number, min_time) for job in jobs]
    samples = [[] for _ in jobs]
    for r in range(repeat):
        order = range(len(jobs)) if r % 2 == 0 else reversed(range(len(jobs)))
        for i in order:
            if len(jobs) > 1:
                time.sleep(settle)
            samples[i].append(_clock(jobs[i], numbers[i]))
    return [Timing.of(s) for s in samples]


def measure(fn, sync=lambda: None, repeat=5, warmup=1, number=1, setup=None, min_time=None):
    """Time `fn()` called `number` times per repetition (see `Timed` and `measure_side_by_side`)."""
    return measure_side_by_side([Timed(fn, sync, setup)], repeat, warmup, number, min_time)[0]
