"""`Optimizer`: the base class holding parameter groups and per-parameter state.

As in PyTorch, `param_groups` is a list of dicts (the parameters plus their
hyper-parameters, which schedulers edit in place) and `state` maps each
parameter to a dict of arrays and a Python-int "step". Subclasses write one
function, `_update(p, g, state, group)`, that updates one parameter in place;
the arithmetic of an update is an elementwise rule (backend/rules.py), so the GPU
runs it as one fused kernel while the bookkeeping stays here.
"""
import math
import numbers

from ..backend import backend_of, move, to_numpy, xp
from ..errors import is_int, shown
from ..parameter import Parameter


class Optimizer:
    """Holds `param_groups` and `state`; `step()` calls `_update` for every parameter with a gradient."""

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.state = {}
        self.param_groups = []
        if isinstance(params, Parameter) or not hasattr(params, "__iter__"):
            raise TypeError(f"{type(self).__name__}: params must be an iterable of Parameters, (name, Parameter) "
                            f"pairs or dicts, got {type(params).__name__}")
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group):
        """Add a dict with "params" and optional hyper-parameters (the rest come from `defaults`). The params
        may be (name, Parameter) pairs, as `model.named_parameters()` gives: the group keeps the names as
        "param_names", as in PyTorch."""
        name = type(self).__name__
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError(f"{name}: a parameter group must be a dict with a 'params' entry")
        params = group["params"]
        params = [params] if isinstance(params, Parameter) else list(params)
        named = [p for p in params if isinstance(p, tuple) and len(p) == 2 and isinstance(p[1], Parameter)]
        if named:
            if len(named) != len(params):
                raise TypeError(f"{name}: a parameter group mixes (name, Parameter) pairs with other entries")
            group = {**group, "param_names": [str(n) for n, _ in named]}
            params = [p for _, p in named]
        bad = [type(p).__name__ for p in params if not isinstance(p, Parameter)]
        if bad:
            raise TypeError(f"{name}: expected xpnet.Parameter objects or (name, Parameter) pairs, got {bad[0]}")
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
        """Load a `state_dict()`: arrays are cast to each parameter's dtype and moved to its backend. A state from
        a file is checked first (each hyper-parameter of the kind it replaces and valid for this optimizer, step
        counts whole numbers, arrays finite and shaped as their parameter): ValueError naming what does not fit."""
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
        groups = [self._loaded_group(i, mine, theirs) for i, (mine, theirs) in enumerate(zip(self.param_groups, saved))]
        index = dict(self._indexed())
        new_state = {}
        for key, entry in state_dict["state"].items():
            i = int(key) if is_int(key) or (isinstance(key, str) and key.isascii() and key.isdigit()) else None
            if i not in index or not isinstance(entry, dict):
                raise ValueError(f"{name}: state for parameter {shown(key)}, but there are parameters 0 to "
                                 f"{len(index) - 1}")
            new_state[index[i]] = {k: self._loaded_state(i, index[i], k, v) for k, v in entry.items()}
        for mine, loaded in zip(self.param_groups, groups):
            mine.update(loaded)
        self.state = new_state

    def _loaded_group(self, i, mine, theirs):
        """The hyper-parameters of saved group `theirs` for this optimizer's group `mine`, checked."""
        where = f"{type(self).__name__}.load_state_dict: parameter group {i}"
        loaded = {}
        for k, v in theirs.items():
            if k == "params":
                continue
            v = tuple(v) if isinstance(v, list) else v
            if k == "param_names":
                if not isinstance(v, tuple) or not all(isinstance(n, str) for n in v):
                    raise ValueError(f"{where}: param_names {shown(v)}, expected a list of names")
                v = list(v)
            elif k in mine:
                v = check_like(v, mine[k], f"{where} {k!r}")
            elif not (v is None or isinstance(v, (bool, str)) or (isinstance(v, numbers.Real) and math.isfinite(v))):
                raise ValueError(f"{where}: {k!r} {shown(v)}, expected a number, a flag or a name")
            loaded[k] = v
        self._check_group({**mine, **loaded})
        return loaded

    def _loaded_state(self, i, p, key, v):
        """Saved state value `v` named `key` of parameter `p` (number `i`), checked and on p's backend."""
        where = f"{type(self).__name__}.load_state_dict: state {key!r} of parameter {i}"
        if hasattr(v, "shape") and tuple(v.shape) == ():
            v = to_numpy(v).item()  # a count such as PyTorch's 'step' (a 0-d tensor), kept as a number
            v = int(v) if isinstance(v, float) and v.is_integer() else v
        if not hasattr(v, "shape"):
            if key != "step" or not is_int(v) or v < 0:
                expected = "a step count >= 0" if key == "step" else "an array"
                raise ValueError(f"{where} is {shown(v)}; expected {expected}")
            return v
        if tuple(v.shape) != tuple(p.data.shape):
            raise ValueError(f"{where} has shape {tuple(v.shape)}, expected {tuple(p.data.shape)}")
        v = to_numpy(v)
        if v.dtype.kind not in "fiu" or not ((v - v) == 0).all():  # x - x is 0 for finite x, NaN otherwise
            raise ValueError(f"{where} holds {v.dtype} values that are not all finite numbers")
        return move(v.astype(p.data.dtype), backend_of(p.data))

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            hyper = ", ".join(f"{k}={v}" for k, v in group.items() if k != "params")
            lines.append(f"  group {i}: {len(group['params'])} params, {hyper}")
        return "\n".join(lines + [")"])


def check_like(value, like, where):
    """`value` from a saved state, if it is the same kind of thing as `like`, the value it replaces: a number
    for a number (not NaN; infinite only where `like` is), a flag for a flag, None for None, the same string,
    and lists, tuples and dicts of as many entries, each alike. ValueError naming `where` otherwise."""
    def fail(expected):
        return ValueError(f"{where} is {shown(value)}; expected {expected}")
    if like is None or isinstance(like, bool):
        if value is not like and not (isinstance(like, bool) and isinstance(value, bool)):
            raise fail(repr(like) if like is None else "True or False")
    elif isinstance(like, numbers.Real):
        if (isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value)
                or (math.isinf(value) and not math.isinf(like))):
            raise fail("a finite number" if math.isfinite(like) else "a number")
    elif isinstance(like, str):
        if value != like:
            raise fail(repr(like))
    elif isinstance(like, (list, tuple)):
        if not isinstance(value, (list, tuple)) or len(value) != len(like):
            raise fail(f"{len(like)} entries")
        return type(like)(check_like(v, l, f"{where}[{i}]") for i, (v, l) in enumerate(zip(value, like)))
    elif isinstance(like, dict):
        if not isinstance(value, dict) or set(value) != set(like):
            raise fail(f"the keys {sorted(like)}")
        return {k: check_like(value[k], like[k], f"{where}[{k!r}]") for k in like}
    return value


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
