"""The catalogue of parity cases: every layer, loss, optimizer and built-in model, in several configurations.

A case's `run(gen)` builds its component on the CURRENT backend (after the
runner has seeded xpnet, so initial weights are the same host draws on both
sides), makes its inputs with the host NumPy generator `gen`, runs forward and
backward (or optimizer steps, or training steps) and returns a dict of named
backend arrays: output, input gradient, each parameter gradient, buffers,
optimizer state. Each case declares `k`, the longest reduction it performs, and
`depth`, how many chained steps it takes; `compare.tolerance` turns those into
the float32 rtol.
"""
import functools
import math
from dataclasses import dataclass, replace
from typing import Callable

import numpy as host  # inputs are drawn on the host, then moved, so both backends see the same numbers

from .. import layers as L
from .. import losses
from ..backend import asarray, get_default_dtype, rng, xp
from ..parameter import Parameter

DTYPES = ("float64", "float32")


@dataclass(frozen=True)
class Case:
    """One component in one configuration; `label` names it in reports."""

    name: str
    run: Callable
    k: int = 1
    depth: int = 1
    seed: int = 0
    dtype: str = "float64"

    @property
    def label(self):
        return f"{self.name} [{self.dtype}]"


# -- inputs ------------------------------------------------------------------
def normal(gen, shape):
    return gen.standard_normal(shape)


def distinct(gen, shape):
    """Shuffled, evenly spaced values in [-2, 2] that avoid 0: no near-ties for max-pool, no inputs at a kink."""
    n = math.prod(shape)
    return gen.permutation(host.linspace(-2.0, 2.0, 2 * (n // 2) + 2))[:n].reshape(shape)


def _dev(a):
    return asarray(a, get_default_dtype())


def host_masks(model):
    """Make every Dropout in `model` draw its mask from xpnet's seeded host generator.

    On the GPU, Dropout normally draws with CuPy's generator, which gives other
    numbers than NumPy's; parity needs the same elements dropped on both sides.
    """
    for m in model.modules():
        if isinstance(m, L.Dropout):
            m._mask = functools.partial(_host_mask, m)
    return model


def _host_mask(layer, shape, dtype):
    keep = rng().random(tuple(shape)) >= layer.p
    return asarray(keep / (1 - layer.p), dtype)


# -- layers ------------------------------------------------------------------
def _forward_backward(layer, x, gen):
    """Output, input gradient, parameter gradients and buffers of one pass with a random upstream gradient."""
    y = layer(_dev(x))
    layer.zero_grad()
    dx = layer.backward(_dev(gen.standard_normal(tuple(y.shape))))
    out = {"output": y, "input_grad": dx}
    out.update({f"grad.{name}": p.grad for name, p in layer.named_parameters()})
    out.update({f"buffer.{name}": b for name, b in layer.named_buffers()})
    return out


def layer_case(name, make, shape, k=1, train=True, inputs=normal, warmup=0):
    """A layer built by `make()`, `warmup` training passes (to move running stats), then one measured pass."""
    def run(gen):
        layer = host_masks(make())
        for _ in range(warmup):
            layer.train(True)
            layer(_dev(inputs(gen, shape)))
        layer.train(train)
        return _forward_backward(layer, inputs(gen, shape), gen)
    return Case(f"{name} {'train' if train else 'eval'} x{shape}", run, k=k)


def _out_size(size, k, stride, padding, dilation):
    return (size + 2 * padding - dilation * (k - 1) - 1) // stride + 1


def _conv_cases():
    out = []
    configs = [  # (N, C_in, C_out, H, W, kernel, stride, padding, dilation, groups, bias)
        (2, 3, 4, 7, 7, 3, 1, 0, 1, 1, True),
        (2, 3, 4, 8, 9, 3, 2, 1, 1, 1, True),
        (1, 2, 3, 9, 9, 3, 1, 2, 2, 1, False),
        (2, 4, 6, 6, 6, 3, 1, 1, 1, 2, True),
        (2, 4, 4, 5, 5, 3, 1, 1, 1, 4, True),
        (1, 3, 2, 6, 5, (3, 2), (2, 1), (1, 0), 1, 1, True),
        (3, 1, 2, 5, 5, 1, 1, 0, 1, 1, True),
    ]
    for n, ci, co, h, w, k, s, p, d, g, bias in configs:
        kk = math.prod(k) if isinstance(k, tuple) else k * k
        kh = k[0] if isinstance(k, tuple) else k
        ho = _out_size(h, kh, s[0] if isinstance(s, tuple) else s, p[0] if isinstance(p, tuple) else p, d)
        red = max(ci // g * kk, co // g * kk, n * ho * w)
        desc = f"Conv2D({ci},{co},{k},stride={s},padding={p},dilation={d},groups={g},bias={bias})"
        make = functools.partial(L.Conv2D, ci, co, k, stride=s, padding=p, dilation=d, groups=g, bias=bias)
        out.append(layer_case(desc, make, (n, ci, h, w), k=red))
    transposed = [  # (N, C_in, C_out, H, W, kernel, stride, padding, output_padding, groups)
        (2, 3, 4, 4, 4, 3, 1, 0, 0, 1),
        (2, 4, 2, 3, 5, 3, 2, 1, 1, 1),
        (1, 4, 6, 4, 4, 2, 2, 0, 0, 2),
    ]
    for n, ci, co, h, w, k, s, p, op, g in transposed:
        desc = f"ConvTranspose2D({ci},{co},{k},stride={s},padding={p},output_padding={op},groups={g})"
        red = max(ci * k * k, n * (h * s + k) * (w * s + k))
        make = functools.partial(L.ConvTranspose2D, ci, co, k, stride=s, padding=p, output_padding=op, groups=g)
        out.append(layer_case(desc, make, (n, ci, h, w), k=red))
    return out


def _pool_cases():
    out = []
    for k, s, p, shape in [(2, None, 0, (2, 3, 8, 8)), (3, 2, 1, (2, 2, 7, 9)), (3, 1, 0, (1, 1, 5, 5)),
                           (2, 2, 0, (1, 2, 7, 7))]:
        args = f"({k},stride={s},padding={p})"
        out.append(layer_case("MaxPool2D" + args, functools.partial(L.MaxPool2D, k, stride=s, padding=p), shape,
                              inputs=distinct))
        out.append(layer_case("AvgPool2D" + args, functools.partial(L.AvgPool2D, k, stride=s, padding=p), shape,
                              k=k * k))
    out.append(layer_case("GlobalAvgPool2D()", L.GlobalAvgPool2D, (2, 3, 5, 7), k=35))
    out.append(layer_case("GlobalAvgPool2D()", L.GlobalAvgPool2D, (1, 4, 1, 1)))
    return out


def _dense_cases():
    return [
        layer_case("Dense(7,5)", lambda: L.Dense(7, 5), (4, 7), k=7),
        layer_case("Dense(33,17,bias=False)", lambda: L.Dense(33, 17, bias=False), (1, 33), k=33),
        layer_case("Dense(64,10)", lambda: L.Dense(64, 10), (16, 64), k=64),
        layer_case("Flatten()", L.Flatten, (2, 3, 4, 5)),
        layer_case("Dropout(0.5)", lambda: L.Dropout(0.5), (8, 16)),
        layer_case("Dropout(0.2)", lambda: L.Dropout(0.2), (1, 3, 4, 4)),
        layer_case("Dropout(0.5)", lambda: L.Dropout(0.5), (8, 16), train=False),
    ]


def _norm_cases():
    out = []
    for train in (True, False):
        out.append(layer_case("BatchNorm1D(6)", lambda: L.BatchNorm1D(6), (8, 6), k=8, train=train, warmup=2))
        out.append(layer_case("BatchNorm2D(3)", lambda: L.BatchNorm2D(3), (4, 3, 5, 5), k=100, train=train,
                              warmup=2))
    out.append(layer_case("BatchNorm2D(2,momentum=None)", lambda: L.BatchNorm2D(2, momentum=None), (2, 2, 3, 3),
                          k=18, warmup=1))
    out.append(layer_case("BatchNorm1D(4,affine=False)", lambda: L.BatchNorm1D(4, affine=False), (5, 4), k=5))
    out.append(layer_case("LayerNorm(10)", lambda: L.LayerNorm(10), (6, 10), k=10))
    out.append(layer_case("LayerNorm((3,4,4))", lambda: L.LayerNorm((3, 4, 4)), (2, 3, 4, 4), k=48))
    out.append(layer_case("LayerNorm(5)", lambda: L.LayerNorm(5), (1, 5), k=5, train=False))
    return out


def _activation_cases():
    makers = [
        ("ReLU()", L.ReLU), ("LeakyReLU(0.1)", lambda: L.LeakyReLU(0.1)), ("ELU(1.0)", L.ELU),
        ("ELU(0.5)", lambda: L.ELU(0.5)), ("GELU()", L.GELU), ("GELU('tanh')", lambda: L.GELU(approximate="tanh")),
        ("Sigmoid()", L.Sigmoid), ("Tanh()", L.Tanh), ("Softplus()", L.Softplus),
        ("Softplus(beta=2,threshold=1)", lambda: L.Softplus(beta=2, threshold=1)),
    ]
    out = [layer_case(name, make, (3, 4, 5), inputs=distinct) for name, make in makers]
    out.append(layer_case("PReLU()", L.PReLU, (4, 3, 2, 2), k=48, inputs=distinct))
    out.append(layer_case("PReLU(3)", lambda: L.PReLU(3), (4, 3, 2, 2), k=16, inputs=distinct))
    out.append(layer_case("Softmax(1)", lambda: L.Softmax(1), (4, 10), k=10))
    out.append(layer_case("Softmax(-1)", lambda: L.Softmax(-1), (2, 3, 7), k=7))
    out.append(layer_case("LogSoftmax(1)", lambda: L.LogSoftmax(1), (4, 10), k=10))
    out.append(layer_case("LogSoftmax(1)", lambda: L.LogSoftmax(1), (1, 3), k=3))
    return out


def _residual_cases():
    return [
        layer_case("Residual(Conv-BN-ReLU-Conv)", lambda: L.Residual(L.Sequential(
            L.Conv2D(3, 3, 3, padding=1), L.BatchNorm2D(3), L.ReLU(), L.Conv2D(3, 3, 3, padding=1))),
            (2, 3, 5, 5), k=50),
        layer_case("Residual(Dense-Tanh)", lambda: L.Residual(L.Sequential(L.Dense(6, 6), L.Tanh())), (3, 6), k=6),
    ]


# -- losses ------------------------------------------------------------------
def labels(classes):
    return lambda gen, shape: gen.integers(0, classes, shape[0])


def floats(gen, shape):
    return gen.standard_normal(shape)


def probabilities(gen, shape):
    return gen.uniform(0.0, 1.0, shape)


def loss_case(name, make, shape, target, k=None):
    """A loss on random scores and targets, with a random upstream gradient of the loss's shape."""
    def run(gen):
        loss = make()
        t = target(gen, shape)
        value = loss(_dev(normal(gen, shape)), asarray(t) if t.dtype.kind in "iu" else _dev(t))
        grad = loss.backward(_dev(gen.standard_normal(tuple(value.shape))))
        return {"loss": value, "input_grad": grad}
    return Case(f"{name} x{shape}", run, k=k or math.prod(shape))


def _loss_cases():
    ce = losses.SoftmaxCrossEntropy
    return [
        loss_case("SoftmaxCrossEntropy()", ce, (8, 5), labels(5)),
        loss_case("SoftmaxCrossEntropy()", ce, (1, 3), labels(3)),
        loss_case("SoftmaxCrossEntropy(reduction=sum)", lambda: ce(reduction="sum"), (6, 4), labels(4)),
        loss_case("SoftmaxCrossEntropy(reduction=none)", lambda: ce(reduction="none"), (6, 4), labels(4)),
        loss_case("SoftmaxCrossEntropy(label_smoothing=0.1)", lambda: ce(label_smoothing=0.1), (5, 7), labels(7)),
        loss_case("SoftmaxCrossEntropy(weight)", lambda: ce(weight=asarray(host.linspace(0.5, 2.0, 4),
                                                                           get_default_dtype())), (6, 4), labels(4)),
        loss_case("BCEWithLogits()", losses.BCEWithLogits, (6, 3), probabilities),
        loss_case("BCEWithLogits(reduction=sum)", lambda: losses.BCEWithLogits(reduction="sum"), (2, 5),
                  probabilities),
        loss_case("MSE()", losses.MSE, (4, 6), floats),
        loss_case("MSE(reduction=none)", lambda: losses.MSE(reduction="none"), (3, 2, 2), floats),
        loss_case("L1()", losses.L1, (4, 6), floats),
        loss_case("Huber()", losses.Huber, (5, 5), floats),
        loss_case("Huber(delta=0.5)", lambda: losses.Huber(delta=0.5), (1, 7), floats),
        loss_case("MultiMargin()", losses.MultiMargin, (6, 5), labels(5)),
        loss_case("MultiMargin(p=2,margin=0.5)", lambda: losses.MultiMargin(p=2, margin=0.5), (4, 3), labels(3)),
    ]


# -- optimizers --------------------------------------------------------------
PARAM_SHAPES = ((5, 3), (3,), (2, 3, 3, 3))


def flatten(prefix, value):
    """Nested dicts/lists of arrays and numbers as {"prefix.key.key": array}; strings and None are left out."""
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, (list, tuple)) and not all(isinstance(v, (int, float)) for v in value):
        items = enumerate(value)
    else:
        if value is None or isinstance(value, str):
            return {}
        return {prefix: value if hasattr(value, "shape") else host.asarray(value)}
    out = {}
    for key, v in items:
        out.update(flatten(f"{prefix}.{key}", v))
    return out


def _optim():
    from .. import optim  # imported when a case runs: the optimizers need not exist to list the cases
    return optim


def optimizer_case(name, make, schedule=None, steps=30):
    """`steps` updates of three parameters on a noisy quadratic (grad = 0.5 p + noise): params, state, lr."""
    def run(gen):
        dt = get_default_dtype()
        params = [Parameter(_dev(gen.standard_normal(s)), f"p{i}") for i, s in enumerate(PARAM_SHAPES)]
        opt = make(_optim(), params)
        sched = schedule(opt) if schedule else None
        for _ in range(steps):
            opt.zero_grad()
            for p in params:
                p.grad = p.data * 0.5 + asarray(gen.standard_normal(p.shape), dt)
            opt.step()
            if sched is not None:
                sched.step()
        out = {f"param.{p.name}": p.data for p in params}
        out.update(flatten("state", opt.state_dict()["state"]))
        out["lr"] = host.array([g["lr"] for g in opt.param_groups])
        return out
    return Case(name, run, k=1, depth=steps)


def _optimizer_cases():
    step_lr = lambda opt: _optim().StepLR(opt, step_size=10, gamma=0.5)  # noqa: E731
    specs = [
        ("SGD(lr=0.05)", lambda o, p: o.SGD(p, lr=0.05)),
        ("SGD(momentum=0.9,dampening=0.1,weight_decay=0.01)",
         lambda o, p: o.SGD(p, lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01)),
        ("SGD(momentum=0.9,nesterov)", lambda o, p: o.SGD(p, lr=0.05, momentum=0.9, nesterov=True)),
        ("Adagrad()", lambda o, p: o.Adagrad(p, lr=0.1)),
        ("Adagrad(lr_decay=0.01,weight_decay=0.01)", lambda o, p: o.Adagrad(p, lr=0.1, lr_decay=0.01,
                                                                           weight_decay=0.01)),
        ("RMSprop()", lambda o, p: o.RMSprop(p, lr=0.01)),
        ("RMSprop(momentum=0.9,centered)", lambda o, p: o.RMSprop(p, lr=0.01, momentum=0.9, centered=True)),
        ("Adam()", lambda o, p: o.Adam(p, lr=0.01)),
        ("Adam(amsgrad,weight_decay=0.01)", lambda o, p: o.Adam(p, lr=0.01, amsgrad=True, weight_decay=0.01)),
        ("AdamW(weight_decay=0.1)", lambda o, p: o.AdamW(p, lr=0.01, weight_decay=0.1)),
        ("RAdam()", lambda o, p: o.RAdam(p, lr=0.01)),
        ("RAdam(decoupled_weight_decay)", lambda o, p: o.RAdam(p, lr=0.01, weight_decay=0.1,
                                                               decoupled_weight_decay=True)),
    ]
    out = [optimizer_case(name, make) for name, make in specs]
    out.append(optimizer_case("SGD(momentum=0.9)+StepLR(10,0.5)",
                              lambda o, p: o.SGD(p, lr=0.05, momentum=0.9), schedule=step_lr))
    out.append(optimizer_case("Adam()+StepLR(10,0.5)", lambda o, p: o.Adam(p, lr=0.01), schedule=step_lr))
    return out


# -- models ------------------------------------------------------------------
def _models():
    from .. import models  # imported when a case runs, like the optimizers
    return models


def training_case(name, make, shape, classes, k, steps=20):
    """`steps` of SGD with momentum on fresh random batches: the losses, final parameters and buffers."""
    def run(gen):
        model = host_masks(make()).train()
        opt = _optim().SGD(model.parameters(), lr=0.02, momentum=0.9)
        loss = losses.SoftmaxCrossEntropy()
        history = []
        for _ in range(steps):
            x, t = _dev(normal(gen, shape)), asarray(gen.integers(0, classes, shape[0]))
            opt.zero_grad()
            history.append(loss(model(x), t))
            model.backward(loss.backward())
            opt.step()
        out = {"losses": xp.stack(history)}
        out.update({f"param.{name}": p.data for name, p in model.named_parameters()})
        out.update({f"buffer.{name}": b for name, b in model.named_buffers()})
        return out
    return Case(f"{name} {steps} training steps x{shape}", run, k=k, depth=steps)


def _model_cases():
    lenet = lambda: _models().lenet5()  # noqa: E731
    mlp = lambda: _models().mlp(hidden=(32, 16), in_features=64)  # noqa: E731
    fc = lambda: _models().fc_net((32, 16), norm="batch", dropout=0.5, in_features=64)  # noqa: E731
    lenet_k, mlp_k = 2 * 28 * 28, 64
    return [
        layer_case("lenet5()", lenet, (2, 1, 28, 28), k=lenet_k),
        layer_case("lenet5()", lenet, (1, 1, 28, 28), k=lenet_k, train=False),
        layer_case("mlp(hidden=(32,16))", mlp, (4, 1, 8, 8), k=mlp_k),
        layer_case("fc_net(batch norm, dropout 0.5)", fc, (8, 1, 8, 8), k=mlp_k),
        layer_case("fc_net(batch norm, dropout 0.5)", fc, (3, 1, 8, 8), k=mlp_k, train=False, warmup=2),
        training_case("lenet5()", lenet, (4, 1, 28, 28), 10, k=4 * 28 * 28),
        training_case("fc_net(batch norm, dropout 0.5)", fc, (8, 1, 8, 8), 10, k=mlp_k),
    ]


def catalogue(dtypes=DTYPES):
    """Every case, once per dtype in `dtypes`."""
    base = (_conv_cases() + _pool_cases() + _dense_cases() + _norm_cases() + _activation_cases()
            + _residual_cases() + _loss_cases() + _optimizer_cases() + _model_cases())
    return [replace(case, dtype=dt) for dt in dtypes for case in base]
