"""Layer micro-benchmarks: forward and backward passes timed separately on representative shapes.

The cases are LeNet-5's layers at batch 128 (shapes and memory layouts found by running
the model), a 3x3 convolution 64->64 at 32x32 (batch 64) with the max-pool and batch norm
that follow it in a VGG block (all three fed batch-last arrays, as they get there), a
1024x1024 dense layer at batch 256, and the softmax cross-entropy loss. Each PyTorch twin
gets the same weights and inputs.
"""
import math
from dataclasses import dataclass

from .. import layers as L
from ..backend import asarray, rng, xp
from ..losses import SoftmaxCrossEntropy
from ..models import lenet5
from .context import fields, ratio
from .twin import torch_twin


@dataclass
class Case:
    """One layer (or loss, when `classes` > 0: logits of shape `shape` against class indices) on one input shape."""

    name: str
    make: object          # () -> xpnet Layer or loss
    shape: tuple
    input_grad: bool = True
    classes: int = 0
    batch_last: bool = False  # the input is stored (C, H, W, N), as a convolution hands it on in the model


_LABELS = {
    L.Conv2D: lambda m: f"conv {m.kernel_size[0]}x{m.kernel_size[1]} {m.in_channels}->{m.out_channels}",
    L.Dense: lambda m: f"dense {m.in_features}->{m.out_features}",
    L.MaxPool2D: lambda m: f"max-pool {m.kernel_size[0]}x{m.kernel_size[1]}",
    L.BatchNorm2D: lambda m: f"batch-norm {m.num_features}",
}


def label(layer):
    """A short name such as "conv 5x5 1->6"."""
    return _LABELS.get(type(layer), lambda m: type(m).__name__.lower())(layer)


def lenet_cases(batch=128):
    """Every LeNet-5 layer but Flatten, at the input shape and memory layout it sees; conv1 skips its input
    gradient as in training."""
    model = lenet5()
    x = xp.zeros((batch, 1, 28, 28), dtype="float32")
    out = []
    for i, layer in enumerate(model):
        if not isinstance(layer, L.Flatten):
            out.append(Case(f"lenet5.{i} {label(layer)}", lambda layer=layer: layer, tuple(x.shape), input_grad=i > 0,
                            batch_last=x.ndim == 4 and xp.moveaxis(x, 0, -1).flags.c_contiguous))
        x = layer(x)
    return out


def cases():
    """All micro-benchmark cases, in table order."""
    return lenet_cases() + [
        Case("conv 3x3 64->64 pad 1", lambda: L.Conv2D(64, 64, 3, padding=1), (64, 64, 32, 32), batch_last=True),
        Case("max-pool 2x2", lambda: L.MaxPool2D(2), (64, 64, 32, 32), batch_last=True),
        Case("batch-norm 64 (train)", lambda: L.BatchNorm2D(64), (64, 64, 32, 32), batch_last=True),
        Case("dense 1024->1024", lambda: L.Dense(1024, 1024), (256, 1024)),
        Case("softmax cross-entropy", SoftmaxCrossEntropy, (128, 10), classes=10),
        Case("softmax cross-entropy", SoftmaxCrossEntropy, (256, 1000), classes=1000),
    ]


def flops(layer, out_shape):
    """Multiply-adds x 2 of one forward pass of a convolution or dense layer, else None."""
    if isinstance(layer, L.Conv2D):
        kh, kw = layer.kernel_size
        return 2 * math.prod(out_shape) * layer.in_channels // layer.groups * kh * kw
    if isinstance(layer, L.Dense):
        return 2 * math.prod(out_shape) * layer.in_features
    return None


def _xpnet_passes(case, x, target):
    """(forward, backward, layer or loss, output shape) of the xpnet side; backward needs a forward first."""
    obj = case.make()
    if case.classes:
        return (lambda: obj(x, target)), obj.backward, obj, ()
    obj.needs_input_grad = case.input_grad
    y = obj(x)
    dy = xp.empty_like(y)  # in y's memory layout, as the next layer's backward hands it back
    dy[...] = asarray(rng().standard_normal(y.shape), y.dtype)
    return (lambda: obj(x)), (lambda: obj.backward(dy)), obj, tuple(y.shape)


def _torch_passes(ctx, case, obj, x, target):
    """(forward, backward, setup of backward) of the PyTorch twin, or Nones without PyTorch."""
    torch = ctx.torch
    if torch is None:
        return None, None, None
    xt = ctx.tensor(x).requires_grad_(case.input_grad)
    if case.classes:
        mod, args = torch.nn.CrossEntropyLoss(), (xt, ctx.tensor(target))
        dy = None
    else:
        mod, args = torch_twin(obj, ctx.device), (xt,)
        dy = torch.randn(mod(xt).shape, device=ctx.device)
    out = [None]

    def forward():
        out[0] = mod(*args)

    return forward, (lambda: out[0].backward(dy)), forward


def run(ctx, peak_gflops=None):
    """Rows of forward and backward timings per case on `ctx`'s backend."""
    rows = []
    for case in cases():
        x = asarray(rng().standard_normal(case.shape), "float32")
        if case.batch_last:
            x = xp.moveaxis(xp.ascontiguousarray(xp.moveaxis(x, 0, -1)), -1, 0)
        target = asarray(rng().integers(0, case.classes, case.shape[0])) if case.classes else None
        xp_fwd, xp_bwd, obj, out_shape = _xpnet_passes(case, x, target)
        t_fwd, t_bwd, t_setup = _torch_passes(ctx, case, obj, x, target)
        fwd_flops = flops(obj, out_shape)
        for name, xp_fn, xp_setup, torch_fn, torch_setup, factor in (
                ("forward", xp_fwd, None, t_fwd, None, 1),
                ("backward", xp_bwd, xp_fwd, t_bwd, t_setup, 2 if case.input_grad else 1)):
            t, tt = ctx.time(xp_fn, torch_fn, xp_setup, torch_setup)
            work = None if fwd_flops is None else fwd_flops * factor
            gflops = work and work / t.median / 1e9
            rows.append({"backend": ctx.backend, "case": case.name, "input": "x".join(map(str, case.shape)),
                         "pass": name, **fields(t, "xpnet_"), "xpnet_gflops": gflops,
                         "xpnet_peak_pct": gflops and peak_gflops and 100 * gflops / peak_gflops,
                         **fields(tt, "torch_"), "torch_gflops": work and tt and work / tt.median / 1e9,
                         "ratio": ratio(t, tt)})
    return rows
