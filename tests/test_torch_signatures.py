"""Every layer, loss, optimizer and scheduler that shares a name with PyTorch takes its arguments as PyTorch does:
the same names, the same defaults, and the same positions for those a user may pass by position."""
import inspect

import pytest

import xpnet.layers as L
import xpnet.losses as losses
import xpnet.optim as optim

# xpnet's own arguments, keyword-only in xpnet, that PyTorch's class has no counterpart for.
OWN = {"weight_init", "bias_init", "algorithm", "uniform"}


def _pairs(torch):
    """(xpnet class, PyTorch class) for every public xpnet class whose name PyTorch also uses."""
    found = {}
    for ours, theirs in ((L, torch.nn), (losses, torch.nn), (optim, torch.optim), (optim, torch.optim.lr_scheduler)):
        for name in dir(ours):
            mine, twin = getattr(ours, name), getattr(theirs, name, None)
            if isinstance(mine, type) and isinstance(twin, type) and mine is not L.Sequential:  # takes *layers
                found.setdefault(mine, twin)
    return list(found.items())


def _arguments(cls):
    return [p for p in inspect.signature(cls.__init__).parameters.values() if p.name != "self"]


def mismatches(mine, twin):
    """What keeps `mine`'s constructor from reading as `twin`'s: one line per argument."""
    theirs = {p.name: (i, p) for i, p in enumerate(_arguments(twin))}
    problems = []
    for i, p in enumerate(_arguments(mine)):
        if p.name not in theirs:
            if p.name not in OWN or p.kind != p.KEYWORD_ONLY:
                problems.append(f"{p.name}: not an argument of PyTorch's {twin.__name__}")
            continue
        j, q = theirs[p.name]
        if p.default is not p.empty and q.default is not q.empty and p.default != q.default:
            problems.append(f"{p.name}: default {p.default!r}, PyTorch's {q.default!r}")
        if p.kind != p.KEYWORD_ONLY and i != j:
            problems.append(f"{p.name}: position {i}, PyTorch's {j}")
        before = [r.name for r in _arguments(twin)[:j]]
        if p.kind == p.KEYWORD_ONLY and q.kind != q.KEYWORD_ONLY and set(before) <= {a.name for a in _arguments(mine)}:
            problems.append(f"{p.name}: keyword-only, but PyTorch takes it at position {j}")
    return problems


def test_every_shared_class_takes_torchs_arguments(torch):
    pairs = _pairs(torch)
    assert len(pairs) > 30  # the layers, losses, optimizers and schedulers were all found
    found = {f"{mine.__name__}: {line}" for mine, twin in pairs for line in mismatches(mine, twin)}
    assert not found, "\n".join(sorted(found))


@pytest.mark.parametrize("code, problems", [
    ("def __init__(self, reduction='mean', *, delta=1.0): pass", ["delta: keyword-only, but PyTorch takes it at "
                                                                  "position 1"]),
    ("def __init__(self, delta=1.0, reduction='mean'): pass", ["delta: position 0, PyTorch's 1",
                                                               "reduction: position 1, PyTorch's 0"]),
    ("def __init__(self, reduction='sum', delta=1.0): pass", ["reduction: default 'sum', PyTorch's 'mean'"]),
    ("def __init__(self, reduction='mean', beta=1.0): pass", ["beta: not an argument of PyTorch's HuberLoss"]),
    ("def __init__(self, reduction='mean', delta=1.0, *, algorithm=None): pass", []),  # xpnet's own, keyword-only
])
def test_the_check_sees_each_kind_of_mismatch(torch, code, problems):
    namespace = {}
    exec(code, namespace)
    mine = type("Huber", (), {"__init__": namespace["__init__"]})
    assert mismatches(mine, torch.nn.HuberLoss) == problems


def test_keyword_only_after_torchs_deprecated_arguments_is_accepted(torch):
    # MSELoss(size_average=None, reduce=None, reduction='mean'): a positional 'sum' would be size_average there.
    assert mismatches(losses.MSE, torch.nn.MSELoss) == []
