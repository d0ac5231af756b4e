"""Weight initializers. Each takes a shape and returns a backend array of the default dtype.

Draws come from xpnet's host NumPy generator (`xpnet.backend.seed`) and are then
moved, so one seed gives identical weights on CPU and GPU. Fans follow PyTorch:
fan_in = shape[1] * receptive field, fan_out = shape[0] * receptive field.

Layers take `weight_init` / `bias_init` as a name from `INITIALIZERS` or a callable
`f(shape) -> array`. Dense, Conv2D and ConvTranspose2D default to PyTorch's own
initialisation, `fan_in_uniform` for weights and biases alike (a bias draws with its
weight's fan_in), so a model starts as its PyTorch twin does and a C-class classifier's
first loss is about ln C. He (`kaiming_uniform`, `kaiming_normal`), Glorot and the
others stay available by name.
"""
import functools
import math

import numpy as host  # host-side drawing; results are moved with asarray

from .backend import asarray, get_default_dtype, rng


def _fans(shape):
    if len(shape) < 2:
        raise ValueError(f"fan in/out need a weight of at least 2 dimensions, got shape {tuple(shape)}")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


_LINEAR = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")


def calculate_gain(nonlinearity, param=None):
    """PyTorch's recommended gain for a nonlinearity (torch.nn.init.calculate_gain)."""
    if nonlinearity in _LINEAR or nonlinearity == "sigmoid":
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"unknown nonlinearity {nonlinearity!r}: expected one of {', '.join(_LINEAR)}, sigmoid, "
                     "tanh, relu, leaky_relu or selu")


def _out(values):
    return asarray(values, dtype=get_default_dtype())


def zeros(shape):
    return _out(host.zeros(shape))


def ones(shape):
    return _out(host.ones(shape))


def constant(shape, value=0.0):
    return _out(host.full(shape, value))


def normal(shape, mean=0.0, std=1.0):
    return _out(rng().normal(mean, std, size=shape))


def uniform(shape, a=0.0, b=1.0):
    return _out(rng().uniform(a, b, size=shape))


def xavier_uniform(shape, gain=1.0):
    """Glorot & Bengio (2010): U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform(shape, -bound, bound)


def xavier_normal(shape, gain=1.0):
    fan_in, fan_out = _fans(shape)
    return normal(shape, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def _kaiming_std(shape, a, mode, nonlinearity):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _fans(shape)
    return calculate_gain(nonlinearity, a) / math.sqrt(fan_in if mode == "fan_in" else fan_out)


def kaiming_uniform(shape, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """He et al. (2015): U(-b, b), b = gain * sqrt(3 / fan). With a=sqrt(5), PyTorch's Linear/Conv default."""
    bound = math.sqrt(3.0) * _kaiming_std(shape, a, mode, nonlinearity)
    return uniform(shape, -bound, bound)


def kaiming_normal(shape, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    return normal(shape, 0.0, _kaiming_std(shape, a, mode, nonlinearity))


def fan_in_uniform(shape, fan_in=None):
    """U(-b, b), b = 1 / sqrt(fan_in): PyTorch's default for Linear and Conv weights (kaiming_uniform with
    a = sqrt(5)) and, given the weight's fan_in, for their biases. fan_in defaults to `shape`'s."""
    fan = _fans(shape)[0] if fan_in is None else fan_in
    bound = 1.0 / math.sqrt(fan) if fan > 0 else 0.0
    return uniform(shape, -bound, bound)


def orthogonal(shape, gain=1.0):
    """Saxe et al. (2014): a (semi-)orthogonal matrix over the flattened trailing dimensions."""
    if len(shape) < 2:
        raise ValueError(f"orthogonal needs at least 2 dimensions, got shape {tuple(shape)}")
    rows, cols = shape[0], math.prod(shape[1:])
    a = rng().normal(size=(max(rows, cols), min(rows, cols)))
    q, r = host.linalg.qr(a)
    q *= host.sign(host.diag(r))
    if rows < cols:
        q = q.T
    return _out(gain * q.reshape(shape))


INITIALIZERS = {f.__name__: f for f in (zeros, ones, constant, normal, uniform, xavier_uniform, xavier_normal,
                                        kaiming_uniform, kaiming_normal, fan_in_uniform, orthogonal)}


def get(spec, **defaults):
    """An initializer from a name in INITIALIZERS or a callable; `defaults` bind its keyword arguments."""
    if callable(spec):
        return spec
    if spec not in INITIALIZERS:
        raise ValueError(f"unknown initializer {spec!r}: expected a callable or one of {', '.join(INITIALIZERS)}")
    fn = INITIALIZERS[spec]
    return functools.partial(fn, **defaults) if defaults else fn


def get_bias(spec, weight_shape):
    """Bias initializer `spec` of a layer whose weight has `weight_shape`: `fan_in_uniform` draws with the
    weight's fan_in (PyTorch's rule), which the bias's own shape does not carry; other specs as `get`."""
    if spec == "fan_in_uniform" or spec is fan_in_uniform:
        return functools.partial(fan_in_uniform, fan_in=_fans(weight_shape)[0])
    return get(spec)
