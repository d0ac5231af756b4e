"""`Layer`: the base class of every layer and model.

A layer computes `forward(x)`, keeps what its backward pass needs, and
`backward(dy)` returns the gradient with respect to its input while adding
parameter gradients into each `Parameter.grad`. Parameters, sub-layers and
buffers are found by attribute assignment, so names and `state_dict` keys are
the ones PyTorch would give (`"0.weight"`, `"3.running_mean"`).
"""
from collections import OrderedDict, namedtuple

from ..backend import LIBRARIES, backend_of, check_backend, current, move, to_numpy
from ..errors import shown
from ..parameter import Parameter


# What `load_state_dict` returns, as in PyTorch: the layer's keys the state lacked, and the state's keys the
# layer has no place for (both empty unless strict=False let them through).
IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Layer:
    """Base class: subclasses set parameters and sub-layers as attributes in `__init__`."""

    def __init__(self):
        object.__setattr__(self, "_params", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_children", OrderedDict())
        self.training = True

    def __setattr__(self, name, value):
        if isinstance(value, Parameter):
            if not value.name:
                value.name = name
            self._params[name] = None
        elif isinstance(value, Layer):
            self._children[name] = None
        object.__setattr__(self, name, value)

    @property
    def needs_input_grad(self):
        """Whether `backward` must return the input gradient. False lets a network's first layer skip
        that work (the Trainer sets it: nobody needs d loss / d images); it passes on to the children
        that see this layer's input (`_input_children`)."""
        return self.__dict__.get("_needs_input_grad", True)

    @needs_input_grad.setter
    def needs_input_grad(self, value):
        self.__dict__["_needs_input_grad"] = value
        for child in self._input_children():
            child.needs_input_grad = value

    def _input_children(self):
        """The sub-layers that take this layer's own input (none for a layer without children)."""
        return []

    def register_buffer(self, name, value):
        """A non-trainable array saved in `state_dict` and moved by `to()` (e.g. running_mean)."""
        self._buffers[name] = None
        object.__setattr__(self, name, value)

    # -- computation -------------------------------------------------------
    def forward(self, x):
        raise NotImplementedError

    def backward(self, dy):
        raise NotImplementedError

    def __call__(self, x):
        y = self.forward(x)
        hooks = self.__dict__.get("_forward_hooks")
        if hooks:
            for hook in list(hooks.values()):
                result = hook(self, x, y)
                if result is not None:
                    y = result
        return y

    def register_forward_hook(self, hook):
        """Call `hook(layer, x, y)` after each forward pass made by calling this layer, as in PyTorch: a
        result other than None replaces the output. Returns a handle whose `remove()` unregisters it."""
        hooks = self.__dict__.setdefault("_forward_hooks", {})
        handle = HookHandle(hooks)
        hooks[handle.id] = hook
        return handle

    # -- structure ---------------------------------------------------------
    def named_children(self):
        return [(name, getattr(self, name)) for name in self._children]

    def named_parameters(self, prefix=""):
        """(dotted name, Parameter) pairs, own parameters first, then each child's."""
        for name in self._params:
            yield prefix + name, getattr(self, name)
        for name, child in self.named_children():
            yield from child.named_parameters(f"{prefix}{name}.")

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def named_buffers(self, prefix=""):
        for name in self._buffers:
            yield prefix + name, getattr(self, name)
        for name, child in self.named_children():
            yield from child.named_buffers(f"{prefix}{name}.")

    def modules(self):
        """This layer and every layer below it, depth first."""
        yield self
        for _, child in self.named_children():
            yield from child.modules()

    def train(self, mode=True):
        for m in self.modules():
            m.training = mode
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self):
        for p in self.parameters():
            p.grad = None

    # -- state -------------------------------------------------------------
    def _entries(self, prefix=""):
        """(key, owner, attribute) for every parameter and buffer, in PyTorch's order."""
        for name in self._params:
            yield prefix + name, self, name
        for name in self._buffers:
            yield prefix + name, self, name
        for name, child in self.named_children():
            yield from child._entries(f"{prefix}{name}.")

    def state_dict(self):
        """Parameters and buffers as host NumPy arrays under PyTorch's key names."""
        out = OrderedDict()
        for key, owner, attr in self._entries():
            value = getattr(owner, attr)
            out[key] = to_numpy(value.data if isinstance(value, Parameter) else value).copy()
        return out

    def _targets(self):
        """{key: (owner, attribute, the array it holds)} for every parameter and buffer, in PyTorch's order."""
        out = {}
        for key, owner, attr in self._entries():
            current = getattr(owner, attr)
            out[key] = owner, attr, current.data if isinstance(current, Parameter) else current
        return out

    def state_dtypes(self):
        """{key: dtype} of every parameter and buffer, without copying them to the host as state_dict does."""
        return {key: array.dtype for key, (_, _, array) in self._targets().items()}

    def state_mismatches(self, shapes, strict=True):
        """What keeps a state whose arrays have `shapes` ({key: shape}) from loading into this layer, one entry
        per problem (the missing and unexpected keys when `strict`, each wrong shape); [] when it fits. A
        model file is checked with its header's shapes before its data is read."""
        expected = {key: tuple(array.shape) for key, (_, _, array) in self._targets().items()}
        problems = [f"{key}: expected shape {want}, got {tuple(shapes[key])}" for key, want in expected.items()
                    if key in shapes and tuple(shapes[key]) != want]
        missing, unexpected = [k for k in expected if k not in shapes], [k for k in shapes if k not in expected]
        if strict and (missing or unexpected):
            problems.insert(0, f"missing keys {missing}, unexpected keys {shown(unexpected)}")
        return problems

    def load_state_dict(self, state, strict=True):
        """Copy arrays from `state` into this layer; mismatched keys (when `strict`) or shapes raise one clear
        error. Returns IncompatibleKeys(missing_keys, unexpected_keys), as PyTorch does."""
        shapes = {key: getattr(value, "shape", None) or to_numpy(value).shape for key, value in state.items()}
        problems = self.state_mismatches(shapes, strict)
        if problems:
            raise ValueError(f"{type(self).__name__}.load_state_dict: " + "; ".join(problems))
        targets = self._targets()
        for key, (owner, attr, target) in targets.items():
            if key not in state:
                continue
            value = move(to_numpy(state[key]).astype(target.dtype, copy=False), backend_of(target))
            if isinstance(getattr(owner, attr), Parameter):
                getattr(owner, attr).data = value
            else:
                object.__setattr__(owner, attr, value)
        return IncompatibleKeys([k for k in targets if k not in state], [k for k in state if k not in targets])

    def to(self, backend_name):
        """Move every parameter, gradient and buffer to backend "cpu" or "gpu"."""
        for m in self.modules():
            for name in m._params:
                p = getattr(m, name)
                p.data, p.grad = move(p.data, backend_name), move(p.grad, backend_name)
            for name in m._buffers:
                object.__setattr__(m, name, move(getattr(m, name), backend_name))
            m._moved(backend_name)
        return self

    def _moved(self, backend_name):
        """Hook for layers that cache backend arrays between calls (drop them here)."""

    def extra_repr(self):
        return ""

    def __repr__(self):
        children = self.named_children()
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"  ({name}): " + repr(child).replace("\n", "\n  ") for name, child in children]
        return f"{type(self).__name__}(\n" + "\n".join(lines) + "\n)"


class HookHandle:
    """What `register_forward_hook` returns: `remove()` unregisters the hook (again: nothing happens)."""

    _next_id = 0

    def __init__(self, hooks):
        self._hooks, self.id = hooks, HookHandle._next_id
        HookHandle._next_id += 1

    def remove(self):
        self._hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def check_input(layer, x, ndim=None, size=None, axis=1, what="channels", min_ndim=0):
    """Raise ValueError naming `layer` unless `x` is a float array of rank `ndim` (an int, a tuple,
    or None for any rank) and at least `min_ndim`, whose `axis` has length `size` (when given)."""
    name = type(layer).__name__
    dtype = getattr(x, "dtype", None)
    if dtype is None or dtype.kind != "f":
        raise ValueError(f"{name} expects a floating-point array, got {type(x).__name__} of dtype {dtype}")
    check_device(layer, x)
    if ndim is not None:
        ranks = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.ndim not in ranks:
            want = " or ".join(f"{r}-D" for r in ranks)
            raise ValueError(f"{name} expects a {want} input, got shape {tuple(x.shape)}")
    if x.ndim < min_ndim:
        raise ValueError(f"{name} expects an input of at least {min_ndim} dimensions, got shape {tuple(x.shape)}")
    if size is not None and x.shape[axis] != size:
        raise ValueError(f"{name} expects {size} {what} (axis {axis}), got shape {tuple(x.shape)}")


def check_device(layer, x):
    """Raise ValueError naming `layer` unless its input `x` and its own parameters and buffers are arrays of
    the current backend: a model moved with `model.to(...)`, or data made on the other backend, would
    otherwise fail deep inside NumPy or CuPy."""
    check_backend(x, type(layer).__name__)
    kind = type(x)  # arrays of x's own type are on x's backend: only other types need backend_of
    for key in (*layer._params, *layer._buffers):
        value = getattr(layer, key)
        array = value.data if isinstance(value, Parameter) else value
        if array is None or type(array) is kind:
            continue
        here, there = current(), backend_of(array)
        if there != here:
            raise ValueError(f"{type(layer).__name__}: its {key!r} is a {there} ({LIBRARIES[there]}) array, but the "
                             f"current backend is {here}: call model.to({here!r}) to move the model, or "
                             f"xpnet.backend.use({there!r}) to run it where it is")
