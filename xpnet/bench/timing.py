"""Timing with warm-up, repetitions and medians; GPU work is synchronised before each clock read."""
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


def measure(fn, sync=lambda: None, repeat=5, warmup=1, number=1):
    """Time `fn()` called `number` times per run; `sync` waits for queued device work."""
    for _ in range(warmup):
        fn()
    sync()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        sync()
        samples.append((time.perf_counter() - start) / number)
    return Timing(statistics.median(samples), min(samples), max(samples), repeat)
