"""`Optimizer`: the base class holding parameter groups and per-parameter state.

As in PyTorch, `param_groups` is a list of dicts (the parameters plus their
hyper-parameters, which schedulers edit in place) and `state` maps each
parameter to a dict of arrays and a Python-int "step". Subclasses write one
function, `_update(p, g, state, group)`, that updates one parameter in place;
the arithmetic of an update is an elementwise rule (backend/rules.py), so the GPU
runs it as one fused kernel while the bookkeeping stays here.
"""
from ..backend import backend_of, move, to_numpy, xp
from ..parameter import Parameter


class Optimizer:
    """Holds `param_groups` and `state`; `step()` calls `_update` for every parameter with a gradient."""

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.state = {}
        self.param_groups = []
        if isinstance(params, Parameter) or not hasattr(params, "__iter__"):
            raise TypeError(f"{type(self).__name__}: params must be an iterable of Parameters or dicts, "
                            f"got {type(params).__name__}")
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group):
        """Add a dict with "params" and optional hyper-parameters (the rest come from `defaults`)."""
        name = type(self).__name__
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError(f"{name}: a parameter group must be a dict with a 'params' entry")
        params = group["params"]
        params = [params] if isinstance(params, Parameter) else list(params)
        bad = [type(p).__name__ for p in params if not isinstance(p, Parameter)]
        if bad:
            raise TypeError(f"{name}: expected xpnet.Parameter objects, got {bad[0]}")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if len({id(p) for p in params}) != len(params) or any(id(p) in seen for p in params):
            raise ValueError(f"{name}: some parameters appear more than once (in one or several groups)")
        full = {**self.defaults, **group, "params": params}
        self._check_group(full)
        self.param_groups.append(full)

    def _check_group(self, group):
        """Raise ValueError for invalid hyper-parameters (subclasses add their own rules)."""
        check_nonnegative(self, group, "lr")

    def zero_grad(self):
        """Drop every gradient (`grad = None`, PyTorch's set_to_none default)."""
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    def step(self):
        """Update every parameter that has a gradient, in place; state follows the parameter's backend."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state.setdefault(p, {})
                where = backend_of(p.data)
                for key, value in state.items():
                    if hasattr(value, "shape") and backend_of(value) != where:
                        state[key] = move(value, where)
                g = -p.grad if group.get("maximize") else p.grad
                self._update(p, g, state, group)

    @staticmethod
    def _update(p, g, state, group):
        """Update `p.data` from gradient `g` (maximize already applied) and this parameter's `state`."""
        raise NotImplementedError

    def _indexed(self):
        """(index, parameter) in group order: the numbering `state_dict` uses, as in PyTorch."""
        params = [p for group in self.param_groups for p in group["params"]]
        return list(enumerate(params))

    def state_dict(self):
        """{"state": {index: {name: host array or number}}, "param_groups": [{..., "params": [indices]}]}."""
        state, groups, start = {}, [], 0
        for i, p in self._indexed():
            if self.state.get(p):
                state[i] = {k: (to_numpy(v).copy() if hasattr(v, "shape") else v)
                            for k, v in self.state[p].items()}
        for group in self.param_groups:
            n = len(group["params"])
            groups.append({**{k: v for k, v in group.items() if k != "params"},
                           "params": list(range(start, start + n))})
            start += n
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Load a `state_dict()`: arrays are cast to each parameter's dtype and moved to its backend."""
        name = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, dict) or set(state_dict) != {"state", "param_groups"}:
            raise ValueError(f"{name}: expected a dict with keys 'state' and 'param_groups'")
        saved = state_dict["param_groups"]
        if len(saved) != len(self.param_groups):
            raise ValueError(f"{name}: expected {len(self.param_groups)} parameter groups, got {len(saved)}")
        for i, (mine, theirs) in enumerate(zip(self.param_groups, saved)):
            if len(mine["params"]) != len(theirs["params"]):
                raise ValueError(f"{name}: group {i} has {len(mine['params'])} parameters, "
                                 f"the state_dict has {len(theirs['params'])}")
        index = dict(self._indexed())
        new_state = {}
        for key, entry in state_dict["state"].items():
            i = int(key)
            if i not in index:
                raise ValueError(f"{name}: state for parameter {i}, but there are only {len(index)}")
            p = index[i]
            new_state[p] = {}
            for k, v in entry.items():
                if hasattr(v, "shape"):
                    if tuple(v.shape) != tuple(p.data.shape):
                        raise ValueError(f"{name}: state '{k}' of parameter {i} has shape {tuple(v.shape)}, "
                                         f"expected {tuple(p.data.shape)}")
                    v = move(to_numpy(v).astype(p.data.dtype), backend_of(p.data))
                new_state[p][k] = v
        for mine, theirs in zip(self.param_groups, saved):
            for k, v in theirs.items():
                if k != "params":
                    mine[k] = tuple(v) if isinstance(v, list) else v
        self.state = new_state

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            hyper = ", ".join(f"{k}={v}" for k, v in group.items() if k != "params")
            lines.append(f"  group {i}: {len(group['params'])} params, {hyper}")
        return "\n".join(lines + [")"])


def check_nonnegative(optimizer, group, *names):
    """ValueError naming the optimizer when any of `group[name]` is negative."""
    for key in names:
        if not group[key] >= 0.0:
            raise ValueError(f"{type(optimizer).__name__}: invalid {key} {group[key]!r} (must be >= 0)")


def check_betas(optimizer, group):
    """ValueError unless both betas lie in [0, 1)."""
    betas = group["betas"]
    if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
        raise ValueError(f"{type(optimizer).__name__}: invalid betas {betas!r} (two values in [0, 1) expected)")


def buffer(state, name, p, value=0.0):
    """`state[name]`, created on first use as an array shaped like `p` and filled with `value`."""
    a = state.get(name)
    if a is None:
        a = state[name] = move(xp.full(p.data.shape, value, dtype=p.data.dtype), backend_of(p.data))
    return a


def next_step(state):
    """Advance and return the parameter's step count (a Python int: no device sync)."""
    state["step"] = state.get("step", 0) + 1
    return state["step"]


def with_weight_decay(p, g, weight_decay):
    """The gradient `g` of parameter array `p` plus the L2 penalty's, weight_decay * p (a new array: the
    parameter's `.grad` is left untouched, as in PyTorch)."""
    return g + weight_decay * p if weight_decay != 0 else g


def lerp_(a, b, weight):
    """a += weight * (b - a), in place: PyTorch's `lerp_` used for running averages."""
    step = b - a
    step *= weight
    a += step
