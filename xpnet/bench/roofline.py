"""The roofline of convolutions: how close each convolution of LeNet-5 and fashion_cnn runs to the machine's GEMM.

For every convolution of the two models at batch 128 (input shape and memory layout found by
running the model), each algorithm that applies is timed forward and backward, side by side
(alternating) with a plain matrix product of the convolution's own GEMM shapes and with
PyTorch's convolution. The GEMM shapes are those of im2col: forward W (O, K) · columns (K, P),
backward dY (O, P) · columnsᵀ (P, K) for the weight gradient and Wᵀ (K, O) · dY (O, P) for the
input gradient, with K = C·kh·kw and P = N·OH·OW. GFLOP/s counts the direct convolution's
2·O·K·P operations per pass (Winograd does fewer, so its figure is an effective rate).
"""
import math
import time

from .. import layers as L
from ..backend import asarray, ops, rng, synchronize, xp
from ..layers import tuner
from ..models import get_model
from .report import block_label
from .timing import Timed, measure_side_by_side
from .twin import torch_twin

MODELS = ("lenet5", "fashion_cnn")


def convolutions(name, batch=128):
    """[(label, Conv2D, its input)] of model `name` in order, each input as the model hands it on."""
    model = get_model(name)
    x = asarray(rng().standard_normal((batch, 1, 28, 28)), "float32")
    out = []
    for layer in model:
        if isinstance(layer, L.Conv2D):
            out.append((f"{name}.{len(out)} conv {layer.kernel_size[0]}x{layer.kernel_size[1]} "
                        f"{layer.in_channels}->{layer.out_channels} at {x.shape[2]}x{x.shape[3]}", layer, x))
        x = layer(x)
    return out


def _gemms(conv, y):
    """(forward GEMM, backward GEMMs): callables running the im2col matrix products of this convolution's shapes."""
    o, k = conv.out_channels, math.prod(conv.weight.shape[1:])
    p = y.shape[0] * y.shape[2] * y.shape[3]
    w = asarray(rng().standard_normal((o, k)), "float32")
    cols = asarray(rng().standard_normal((k, p)), "float32")
    dy = asarray(rng().standard_normal((o, p)), "float32")

    def backward():
        dy @ cols.T
        if conv.needs_input_grad:
            w.T @ dy
    return (lambda: w @ cols), backward


def run(ctx, peak_gflops=None, batch=128):
    """One row per convolution and algorithm: ms and GFLOP/s forward and backward, the GEMM's GFLOP/s on the
    same shapes, PyTorch's, and which algorithm the tuner chose."""
    rows = []
    for model in MODELS:
        for label, conv, x in convolutions(model, batch):
            conv.needs_input_grad = conv.in_channels > 1  # the first layer skips it, as in training
            conv.train()
            tuner.forget()
            conv.requested_algorithm = "auto"
            time.sleep(ctx.settle)  # the previous PyTorch call's spinning threads would slow the tuner's first candidate
            y = conv(x)
            chosen = (conv.algorithm, conv.block_bytes or ops.block_sizes()[0])  # None: forced (XPNET_CONV_ALGO)
            dy = xp.empty_like(y)
            dy[...] = asarray(rng().standard_normal(y.shape), "float32")
            work = 2 * math.prod(y.shape) * math.prod(conv.weight.shape[1:])
            gemm_fwd, gemm_bwd = _gemms(conv, y)
            # every algorithm in blocks of the default size, and the tuner's choice in its own if that differs
            runs = [(a, ops.block_sizes()[0]) for a in conv.candidates(y.shape[2:])]
            runs += [chosen] if chosen not in runs else []
            jobs = []
            for a, nbytes in runs:
                def forward(a=a, nbytes=nbytes):
                    conv.requested_algorithm = a
                    with ops.blocks_of(nbytes):
                        conv(x)

                def backward(nbytes=nbytes):
                    with ops.blocks_of(nbytes):
                        conv.backward(dy)
                jobs += [Timed(forward, synchronize), Timed(backward, synchronize, forward)]
            jobs += [Timed(gemm_fwd, synchronize), Timed(gemm_bwd, synchronize)]
            if ctx.torch is not None:
                twin = torch_twin(conv, ctx.device)
                xt = ctx.tensor(x).requires_grad_(conv.needs_input_grad)
                dyt = ctx.tensor(dy)
                out = [None]

                def tforward():
                    out[0] = twin(xt)
                jobs += [Timed(tforward, synchronize), Timed(lambda: out[0].backward(dyt), synchronize, tforward)]
            times = measure_side_by_side(jobs, ctx.repeat, ctx.warmup, min_time=ctx.min_time, settle=ctx.settle)
            conv.requested_algorithm = "auto"
            bwd_work = work * (2 if conv.needs_input_grad else 1)
            gemm = times[2 * len(runs):2 * len(runs) + 2]
            torch_t = times[2 * len(runs) + 2:] or [None, None]
            for i, (a, nbytes) in enumerate(runs):
                fwd, bwd = times[2 * i], times[2 * i + 1]
                rows.append({
                    "backend": ctx.backend, "case": label, "algorithm": block_label(a, nbytes),
                    "chosen": "yes" if (a, nbytes) == chosen else "",
                    "fwd_ms": fwd.median * 1e3, "fwd_gflops": work / fwd.median / 1e9,
                    "gemm_fwd_gflops": work / gemm[0].median / 1e9,
                    "fwd_of_gemm_pct": 100 * gemm[0].median / fwd.median,
                    "bwd_ms": bwd.median * 1e3, "bwd_gflops": bwd_work / bwd.median / 1e9,
                    "gemm_bwd_gflops": bwd_work / gemm[1].median / 1e9,
                    "bwd_of_gemm_pct": 100 * gemm[1].median / bwd.median,
                    "peak_gflops": peak_gflops,
                    "torch_fwd_gflops": torch_t[0] and work / torch_t[0].median / 1e9,
                    "torch_bwd_gflops": torch_t[1] and bwd_work / torch_t[1].median / 1e9,
                    "fwd_ratio": torch_t[0] and fwd.median / torch_t[0].median,
                    "bwd_ratio": torch_t[1] and bwd.median / torch_t[1].median})
    return rows
