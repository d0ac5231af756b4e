"""Will a training step of this batch size fit in memory? Measured, not guessed, before the run starts.

One forward and backward pass of a copy of the model on two small batches, with the backend counting its
memory (`backend.ops.peak_bytes`: Python's allocation tracer for NumPy's arrays, CuPy's memory pool on
the GPU), gives the bytes each further image costs and what the step needs besides; a batch size whose
step would need more than the backend's memory free now is refused with what it needs and the largest
batch that fits, instead of an out-of-memory error deep inside NumPy or CuPy minutes later. Where the
backend cannot count (another allocation tracer is running) nothing is refused.
"""
import copy

from .. import backend
from ..errors import ConfigError

PROBE = (4, 8)  # the two small batch sizes a step is measured at
MARGIN = 1.5    # the line through two small batches misses a large batch's peak by up to a third (tests check)


def _step_peak(model, loss, x):
    """Peak bytes of one forward and backward pass of `model` on batch `x`, or None where not counted."""
    y = backend.xp.zeros(len(x), dtype=backend.xp.int64)

    def step():
        loss(model(x), y)
        model.backward(loss.backward())
    return backend.ops.peak_bytes(step)


def step_bytes(model, loss, sample):
    """(bytes per image, bytes besides) of a training step of `model` with `loss` on images like `sample`
    (one input, shape (C, H, W)); (0, 0) where the backend's memory is not counted."""
    probe = copy.deepcopy(model)  # running statistics and gradients of the real model stay untouched
    probe.train(True)
    rng = backend.get_rng_state()  # dropout draws from the generator: a seeded run stays the same run
    try:
        x = backend.xp.broadcast_to(backend.asarray(sample), (max(PROBE), *sample.shape)).copy()
        for n in PROBE:  # caches and first-call allocations of both sizes, so that neither is counted
            if _step_peak(probe, loss, x[:n]) is None:
                return 0, 0
        small, large = (_step_peak(probe, loss, x[:n]) for n in PROBE)
    finally:
        backend.set_rng_state(rng)
    per_image = max(0, (large - small) // (PROBE[1] - PROBE[0]))
    return per_image, max(0, small - PROBE[0] * per_image)


def available_bytes():
    """The current backend's memory that new arrays can take now (host or GPU), or None if unknown."""
    return backend.ops.free_bytes()


def _gib(n):
    for unit, size in (("GiB", 2**30), ("MiB", 2**20)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n / 2**10:.0f} KiB"


def check_batch(model, loss, sample, batch_size, option="--batch-size", free=None):
    """ConfigError naming `option` when a training step on `batch_size` images like `sample` would need more
    memory than is free (`free` bytes, default: measured now)."""
    per_image, besides = step_bytes(model, loss, sample)
    free = available_bytes() if free is None else free
    if not per_image or free is None:
        return
    need = int(MARGIN * (besides + batch_size * per_image))
    if need > free:
        fits = max(0, int(free / MARGIN - besides) // per_image)
        raise ConfigError(f"{option} {batch_size}: one training step needs about {_gib(need)} "
                          f"({_gib(MARGIN * per_image)} per image), but {_gib(free)} of {backend.ops.MEMORY} are "
                          f"free: at most {fits} images fit in a batch")
