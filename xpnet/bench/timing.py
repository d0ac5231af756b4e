"""Timing with warm-up, repetitions and medians; GPU work is synchronised before each clock read."""
import math
import statistics
import time
from dataclasses import dataclass


@dataclass
class Timing:
    """Seconds per call over `runs` repetitions."""

    median: float
    min: float
    max: float
    runs: int

    def as_dict(self):
        return {"median_s": self.median, "min_s": self.min, "max_s": self.max, "runs": self.runs}


def _clock(fn, sync, number, setup):
    """Seconds per call of `number` calls; `setup()` runs before each call, off the clock.

    Without a setup the calls run back to back and the device is synchronised once,
    so GPU launches overlap as they do in real use.
    """
    if setup is None:
        start = time.perf_counter()
        for _ in range(number):
            fn()
        sync()
        return (time.perf_counter() - start) / number
    total = 0.0
    for _ in range(number):
        setup()
        sync()
        start = time.perf_counter()
        fn()
        sync()
        total += time.perf_counter() - start
    return total / number


def measure(fn, sync=lambda: None, repeat=5, warmup=1, number=1, setup=None, min_time=None):
    """Time `fn()` called `number` times per repetition; `sync` waits for queued device work.

    `setup()` (e.g. the forward pass before a timed backward pass) runs before every
    call without being timed. With `min_time` (seconds), `number` grows so that one
    repetition lasts at least that long, judged from the last warm-up call.
    """
    per_call = None
    for _ in range(max(warmup, 1 if min_time else 0)):
        per_call = _clock(fn, sync, 1, setup)
    if min_time and per_call is not None:
        number = max(number, math.ceil(min_time / max(per_call, 1e-9)))
    samples = [_clock(fn, sync, number, setup) for _ in range(repeat)]
    return Timing(statistics.median(samples), min(samples), max(samples), repeat)
