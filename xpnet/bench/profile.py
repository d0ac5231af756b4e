"""Where a training step goes: each layer's forward and backward time inside real training steps, beside
the same layer of the PyTorch twin.

Steps are the train section's (zero_grad, forward, SoftmaxCrossEntropy, backward without the first
layer's input gradient, Adam), the libraries taking turns of two steps after a pause (the first step of
each turn, which finds the caches and the cores cold, is not recorded). xpnet runs
its Sequential layer by layer, the backend synchronised around each call. PyTorch's times come from
hooks: a module's forward lasts from its forward pre-hook to its forward hook, and its backward from
its backward pre-hook to the next module's (in a chain each module's backward runs between the two;
the first module's lasts until backward() returns). Each figure is the median over the steps; the
last row is the whole step, clocks and synchronisations included.
"""
import statistics
import time
import warnings

from ..backend import synchronize
from ..layers import Sequential
from .layers import label
from .training import batch, build, conv_choice, torch_parts, xpnet_parts

STEPS = 10  # recorded steps per library, after WARMUP rounds that record nothing
WARMUP = 2


def _record(layers):
    """Empty lists for each layer's forward and backward seconds and the whole step's."""
    return {"fwd": [[] for _ in range(layers)], "bwd": [[] for _ in range(layers)], "step": []}


def _xpnet_run(model, x, y):
    """`run(record)`: one training step of Sequential `model` on (x, y), each layer's times added to `record`."""
    loss, optimizer = xpnet_parts(model)
    layers = list(model)

    def timed(fn, arg, into):
        synchronize()
        start = time.perf_counter()
        out = fn(arg)
        synchronize()
        into.append(time.perf_counter() - start)
        return out

    def run(record):
        start = time.perf_counter()
        optimizer.zero_grad()
        h = x
        for i, layer in enumerate(layers):
            h = timed(layer, h, record["fwd"][i])
        loss(h, y)
        d = loss.backward()
        for i in reversed(range(len(layers))):
            d = timed(layers[i].backward, d, record["bwd"][i])
        optimizer.step()
        synchronize()
        record["step"].append(time.perf_counter() - start)
    return run


def _torch_run(ctx, twin, x, y):
    """`run(record)`: one training step of the twin (an nn.Sequential), its modules' spans taken by hooks."""
    torch = ctx.torch
    sync = ctx.torch_sync
    loss_fn, optimizer = torch_parts(torch, twin)
    modules, marks, current = list(twin.children()), {}, {}

    def clock():
        sync()
        return time.perf_counter()

    for i, module in enumerate(modules):
        module.register_forward_pre_hook(lambda m, args, i=i: marks.__setitem__(("fwd", i), clock()))
        module.register_forward_hook(lambda m, args, out, i=i: current["record"]["fwd"][i].append(
            clock() - marks["fwd", i]))
        module.register_full_backward_pre_hook(lambda m, grad, i=i: marks.__setitem__(("bwd", i), clock()))

    def run(record):
        current["record"] = record
        start = clock()
        optimizer.zero_grad()
        with warnings.catch_warnings():  # the first module's hook fires as intended, before its weight gradient
            warnings.filterwarnings("ignore", "Full backward hook is firing when gradients are computed with "
                                    "respect to module outputs", UserWarning)
            loss_fn(twin(x), y).backward()
        end = clock()
        for i in range(len(modules)):  # module i's backward ends where module i-1's begins
            record["bwd"][i].append((marks["bwd", i - 1] if i else end) - marks["bwd", i])
        optimizer.step()
        record["step"].append(clock() - start)
    return run


def _ms(values):
    return statistics.median(values) * 1e3


def run(ctx, models, batch_sizes):
    """A row per layer, and one for the whole step, of each model in `models` at each batch size."""
    rows = []
    for name in models:
        for n in batch_sizes:
            model, twin = build(name, ctx)
            if not isinstance(model, Sequential):
                raise ValueError(f"the profile section times the layers of Sequential models; {name} is a "
                                 f"{type(model).__name__}")
            x, y = batch(n)
            runs = [_xpnet_run(model, x, y)]
            if twin is not None:
                runs.append(_torch_run(ctx, twin, ctx.tensor(x), ctx.tensor(y)))
            records = [_record(len(model)) for _ in runs]
            for k in range(WARMUP + STEPS):
                for go, record in zip(runs, records):
                    time.sleep(ctx.settle if len(runs) > 1 else 0)  # the other library's threads go idle
                    go(_record(len(model)))  # an unrecorded step first: the first after a pause runs slow
                    if k >= WARMUP:
                        go(record)
            ours, theirs = records[0], (records[1] if twin is not None else None)
            base = {"backend": ctx.backend, "model": name, "batch": n}
            for i, layer in enumerate(model):
                ran = conv_choice(layer) if getattr(layer, "algorithm", None) else ""
                row = {**base, "layer": f"{i} {label(layer)}", "algorithm": ran,
                       "xpnet_fwd_ms": _ms(ours["fwd"][i]), "xpnet_bwd_ms": _ms(ours["bwd"][i])}
                if theirs is not None:
                    row.update(torch_fwd_ms=_ms(theirs["fwd"][i]), torch_bwd_ms=_ms(theirs["bwd"][i]))
                    row["ratio"] = ((row["xpnet_fwd_ms"] + row["xpnet_bwd_ms"])
                                    / max(row["torch_fwd_ms"] + row["torch_bwd_ms"], 1e-9))
                rows.append(row)
            whole = {**base, "layer": "whole step", "algorithm": "", "xpnet_step_ms": _ms(ours["step"])}
            if theirs is not None:
                whole.update(torch_step_ms=_ms(theirs["step"]), ratio=_ms(ours["step"]) / _ms(theirs["step"]))
            rows.append(whole)
    return rows
