"""Block sizes: each convolution of LeNet-5 and fashion_cnn by each algorithm in each block size it may run in.

Convolutions run their products over blocks of columns (or tiles) sized to stay in the cache
(`ops.row_blocks`); Conv2D's tuner times the winning algorithm in every size of `ops.block_sizes()`.
This section shows what that choice is worth on this machine: forward and backward of every
algorithm (but Winograd's, which the roofline section covers) in every size, side by side
(alternating) in one process at batch 128, as ms and as the ratio to the default size.
"""
from ..backend import asarray, ops, rng, synchronize, xp
from .report import mib
from .roofline import MODELS, convolutions
from .timing import Timed, measure_side_by_side


def _job(conv, algorithm, nbytes, x, dy):
    def step():
        conv.requested_algorithm = algorithm
        with ops.blocks_of(nbytes):
            conv(x)
            conv.backward(dy)
    return Timed(step, synchronize)


def run(ctx, batch=128):
    """One row per convolution, algorithm and block size: forward + backward ms and its ratio to the default size."""
    rows, sizes = [], ops.block_sizes()
    for model in MODELS:
        for label, conv, x in convolutions(model, batch):
            conv.needs_input_grad = conv.in_channels > 1  # the first layer skips it, as in training
            conv.train()
            y = conv(x)
            dy = xp.empty_like(y)
            dy[...] = asarray(rng().standard_normal(y.shape), "float32")
            runs = [(a, s) for a in conv.candidates(y.shape[2:]) if not a.startswith("winograd") for s in sizes]
            times = measure_side_by_side([_job(conv, a, s, x, dy) for a, s in runs], ctx.repeat, ctx.warmup,
                                         min_time=ctx.min_time, settle=ctx.settle)
            conv.requested_algorithm = "auto"
            default = {a: t.median for (a, s), t in zip(runs, times) if s == sizes[0]}
            for (a, s), t in zip(runs, times):
                rows.append({"backend": ctx.backend, "case": label, "algorithm": a, "blocks": mib(s),
                             "ms": t.median * 1e3, "min_ms": t.min * 1e3, "max_ms": t.max * 1e3,
                             "of_default": t.median / default[a]})
    return rows
