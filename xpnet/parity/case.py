"""What a parity case is, and the four kinds the catalogue declares: `layer`, `loss`, `optimizer`, `training`.

A case's `run(gen)` builds its component on the CURRENT backend (after the
runner has seeded xpnet, so initial weights are the same host draws on both
sides), makes its inputs with the host NumPy generator `gen`, runs forward and
backward (or optimizer steps, or training steps) and returns a dict of named
backend arrays: output, input gradient, each parameter gradient, buffers,
optimizer state. Its `k` is the longest reduction it performs, computed from
the component and the shapes (reduction.py), and `depth` how many chained steps
it takes; `compare.tolerance` turns those into the float32 rtol.
"""
from dataclasses import dataclass
from typing import Callable

import numpy as host  # learning rates are reported as a host array

from .. import backend, losses, optim
from ..backend import asarray, get_default_dtype, xp
from ..parameter import Parameter
from .inputs import dev, host_masks, normal
from .part import part
from .reduction import longest_reduction, loss_reduction


@dataclass(frozen=True)
class Case:
    """One component in one configuration; `label` names it in reports."""

    name: str
    run: Callable
    k: int = 1
    depth: int = 1
    seed: int = 0
    dtype: str = "float64"
    setup: Callable = None  # layer cases: gen -> (model after its warm-up, host input), for checks beside parity

    @property
    def label(self):
        return f"{self.name} [{self.dtype}]"


def probe(recipe, shape, loss=None):
    """(label, longest sum) of the model `recipe` builds, on inputs of `shape` (then `loss`), from a copy built and
    run on the CPU; xpnet's generator is left as it was. A single layer is labelled by its repr, anything with
    sub-layers by the call that builds it (its repr spans many lines)."""
    state = backend.get_rng_state()
    try:
        with backend.using("cpu"):
            model = recipe.build()
            k = longest_reduction(model, shape, loss)
    finally:
        backend.set_rng_state(state)
    return (repr(recipe) if model.named_children() else repr(model)), k


def layer(make, *args, x, train=True, warmup=0, inputs=normal, **kwargs):
    """The layer or model `make(*args, **kwargs)` on inputs `inputs(gen, x)`: `warmup` training passes (to move
    running statistics), then one pass in train or eval mode with a random upstream gradient."""
    recipe = part(make, *args, **kwargs)

    def setup(gen):
        """The model after its warm-up passes, and the host input of the pass that follows."""
        model = host_masks(recipe.build())
        for _ in range(warmup):
            model.train(True)
            model(dev(inputs(gen, x)))
        return model, inputs(gen, x)

    def run(gen):
        model, batch = setup(gen)
        model.train(train)
        y = model(dev(batch))
        model.zero_grad()
        dx = model.backward(dev(gen.standard_normal(tuple(y.shape))))
        out = {"output": y, "input_grad": dx}
        out.update({f"grad.{name}": p.grad for name, p in model.named_parameters()})
        out.update({f"buffer.{name}": b for name, b in model.named_buffers()})
        return out

    label, k = probe(recipe, x)
    return Case(f"{label} {'train' if train else 'eval'} x{x}", run, k=k, setup=setup)


def loss(make, *args, x, target, **kwargs):
    """The loss `make(*args, **kwargs)` of random scores of shape `x` against `target(gen, x)`, with a random
    upstream gradient of the loss's shape: the loss and its input gradient."""
    recipe = part(make, *args, **kwargs)

    def run(gen):
        criterion = recipe.build()
        t = target(gen, x)
        value = criterion(dev(normal(gen, x)), asarray(t) if t.dtype.kind in "iu" else dev(t))
        grad = criterion.backward(dev(gen.standard_normal(tuple(value.shape))))
        return {"loss": value, "input_grad": grad}

    return Case(f"{recipe!r} x{x}", run, k=loss_reduction(recipe.build(), x))


PARAM_SHAPES = ((5, 3), (3,), (2, 3, 3, 3))


def optimizer(make, schedule=None, steps=30, **config):
    """`steps` updates by `make(params, **config)`, each followed by a step of `schedule` (a part taking the
    optimizer) when given, of three parameters on a noisy quadratic (grad = 0.5 p + noise): params, state, lr."""
    recipe = part(make, **config)

    def run(gen):
        params = [Parameter(dev(gen.standard_normal(s)), f"p{i}") for i, s in enumerate(PARAM_SHAPES)]
        opt = recipe.build(params)
        sched = schedule.build(opt) if schedule else None
        for _ in range(steps):
            opt.zero_grad()
            for p in params:
                p.grad = p.data * 0.5 + asarray(gen.standard_normal(p.shape), get_default_dtype())
            opt.step()
            if sched is not None:
                sched.step()
        out = {f"param.{p.name}": p.data for p in params}
        out.update(flatten("state", opt.state_dict()["state"]))
        out["lr"] = host.array([g["lr"] for g in opt.param_groups])
        return out

    return Case(repr(recipe) + (f" + {schedule!r}" if schedule else ""), run, k=1, depth=steps)


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


def training(make, *args, x, steps=20, **kwargs):
    """`steps` of SGD with momentum on the model `make(*args, **kwargs)`, each on a fresh random batch of shape
    `x` with random class labels: the losses, final parameters and buffers."""
    recipe = part(make, *args, **kwargs)

    def run(gen):
        model = host_masks(recipe.build()).train()
        opt = optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
        criterion = losses.SoftmaxCrossEntropy()
        history = []
        for _ in range(steps):
            batch = dev(normal(gen, x))
            opt.zero_grad()
            y = model(batch)
            history.append(criterion(y, asarray(gen.integers(0, y.shape[1], x[0]))))
            model.backward(criterion.backward())
            opt.step()
        out = {"losses": xp.stack(history)}
        out.update({f"param.{name}": p.data for name, p in model.named_parameters()})
        out.update({f"buffer.{name}": b for name, b in model.named_buffers()})
        return out

    label, k = probe(recipe, x, loss=losses.SoftmaxCrossEntropy())
    return Case(f"{label} {steps} training steps x{x}", run, k=k, depth=steps)
