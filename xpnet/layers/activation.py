"""Elementwise activations, with PyTorch's names, arguments and gradients.

Each caches the least its backward pass needs: the output when the derivative is
a function of it (ReLU, Sigmoid, Tanh), else a sign mask or the input.
"""
import math

from ..backend import layout, xp
from ..backend.rules import elementwise
from ..backend.special import erf
from ..init import constant
from ..parameter import Parameter
from .base import Layer, check_input


@elementwise("relu", "T x", "T out", "out = x <= 0 ? (T)0 : x;")
def relu(x, out):
    """out = max(x, 0), NaN kept, -0 made +0; `out` must not overlap `x`. Computed as the maximum of x and the
    zeroed `out`: NumPy vectorises the maximum of two arrays, not that of an array and a scalar."""
    out.fill(0)
    xp.maximum(x, out, out=out)


@elementwise("relu_grad", "T dy, T y", "T out", "out = dy * (T)(y > 0);")
def relu_grad(dy, y, out):
    """out = dy where y > 0, else 0: ReLU's input gradient from its output y."""
    xp.multiply(dy, y > 0, out=out)


def sigmoid(z):
    """1 / (1 + exp(-z)) without overflow: exp only ever sees -|z|."""
    e = xp.exp(-xp.abs(z))
    y = 1 / (1 + e)
    return xp.where(z >= 0, y, e * y)


class Activation(Layer):
    """Base of the elementwise activations: checks the input and honours `needs_input_grad`.

    Subclasses implement `_forward(x)` (caching what they need) and `_backward(dy) -> dx`.
    """

    def forward(self, x):
        check_input(self, x)
        return self._forward(x)

    def backward(self, dy):
        return self._backward(dy) if self.needs_input_grad else None


class ReLU(Activation):
    """max(x, 0); the gradient at 0 is 0, as in PyTorch."""

    def _forward(self, x):
        self._y = layout.empty_like(x)
        relu(x, self._y)
        return self._y

    def _backward(self, dy):
        dx = layout.empty_like(self._y)
        relu_grad(dy, self._y, dx)
        return dx

    def export_onnx(self, graph, x):
        return graph.op("Relu", x)


class LeakyReLU(Activation):
    """x for x > 0, negative_slope * x otherwise."""

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = negative_slope

    def _forward(self, x):
        self._pos = x > 0
        return xp.where(self._pos, x, x * self.negative_slope)

    def _backward(self, dy):
        return xp.where(self._pos, dy, dy * self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"

    def export_onnx(self, graph, x):
        return graph.op("LeakyRelu", x, alpha=float(self.negative_slope))


class PReLU(Activation):
    """LeakyReLU with a learned slope: one shared (num_parameters=1) or one per channel (axis 1)."""

    def __init__(self, num_parameters=1, init=0.25):
        super().__init__()
        if num_parameters < 1:
            raise ValueError(f"PReLU num_parameters must be >= 1, got {num_parameters}")
        self.num_parameters = num_parameters
        self.weight = Parameter(constant((num_parameters,), init))

    def forward(self, x):
        if self.num_parameters > 1:
            check_input(self, x, size=self.num_parameters, min_ndim=2)
        return super().forward(x)

    def _slope(self, ndim):
        """The weight shaped to broadcast against an input of rank `ndim` on axis 1."""
        w = self.weight.data
        return w.reshape((-1,) + (1,) * (ndim - 2)) if ndim >= 2 else w.reshape(())

    def _forward(self, x):
        self._x, self._pos = x, x > 0
        return xp.where(self._pos, x, x * self._slope(x.ndim))

    def backward(self, dy):
        x = self._x
        axes = (0,) + tuple(range(2, x.ndim)) if self.num_parameters > 1 else None
        self.weight.accumulate((dy * x * ~self._pos).sum(axis=axes).reshape(self.weight.shape))
        return super().backward(dy)

    def _backward(self, dy):
        return xp.where(self._pos, dy, dy * self._slope(dy.ndim))

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"

    def export_onnx(self, graph, x):
        """ONNX PRelu, the slope shaped to broadcast on axis 1 as here."""
        ndim = len(graph.shape(x))
        shape = (-1,) + (1,) * (ndim - 2) if self.num_parameters > 1 else (1,)
        return graph.op("PRelu", x, graph.param("weight", self.weight, shape))


class ELU(Activation):
    """x for x > 0, alpha * (exp(x) - 1) otherwise; the gradient there is y + alpha."""

    def __init__(self, alpha=1.0):
        super().__init__()
        self.alpha = alpha

    def _forward(self, x):
        self._pos = x > 0
        self._y = xp.where(self._pos, x, self.alpha * xp.expm1(xp.minimum(x, 0)))
        return self._y

    def _backward(self, dy):
        return xp.where(self._pos, dy, dy * (self._y + self.alpha))

    def extra_repr(self):
        return f"alpha={self.alpha}"

    def export_onnx(self, graph, x):
        return graph.op("Elu", x, alpha=float(self.alpha))


_SQRT1_2 = 1 / math.sqrt(2)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)
_SQRT_2_PI = math.sqrt(2 / math.pi)
_GELU_CUBIC = 0.044715


class GELU(Activation):
    """x * Phi(x) with Phi the standard normal CDF (exact, via erf), or PyTorch's tanh approximation."""

    def __init__(self, approximate="none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def _forward(self, x):
        self._x = x
        if self.approximate == "tanh":
            self._t = xp.tanh(_SQRT_2_PI * (x + _GELU_CUBIC * x * x * x))
            return 0.5 * x * (1 + self._t)
        cdf = erf(x * _SQRT1_2)
        cdf += 1
        cdf *= 0.5
        self._cdf = cdf
        return x * cdf

    def _backward(self, dy):
        x = self._x
        if self.approximate == "tanh":
            t = self._t
            inner = _SQRT_2_PI * (1 + 3 * _GELU_CUBIC * x * x)
            return dy * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * inner)
        return dy * (self._cdf + x * xp.exp(-0.5 * x * x) * _INV_SQRT_2PI)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"

    def export_onnx(self, graph, x):
        """x * 0.5 * (1 + erf(x / sqrt 2)), or the tanh form, in ONNX Mul, Add, Erf and Tanh (which any opset
        has; ONNX Runtime fuses them into one Gelu)."""
        c = graph.const
        if self.approximate == "tanh":
            cube = graph.op("Mul", graph.op("Mul", x, x), x)
            inner = graph.op("Mul", graph.op("Add", x, graph.op("Mul", cube, c(_GELU_CUBIC))), c(_SQRT_2_PI))
            phi = graph.op("Add", graph.op("Tanh", inner), c(1.0))
        else:
            phi = graph.op("Add", graph.op("Erf", graph.op("Mul", x, c(_SQRT1_2))), c(1.0))
        return graph.op("Mul", graph.op("Mul", x, phi), c(0.5))


class Sigmoid(Activation):
    """1 / (1 + exp(-x)), overflow-free; the gradient is y * (1 - y)."""

    def _forward(self, x):
        self._y = sigmoid(x)
        return self._y

    def _backward(self, dy):
        y = self._y
        return dy * y * (1 - y)

    def export_onnx(self, graph, x):
        return graph.op("Sigmoid", x)


class Tanh(Activation):
    """tanh(x); the gradient is 1 - y^2."""

    def _forward(self, x):
        self._y = xp.tanh(x)
        return self._y

    def _backward(self, dy):
        y = self._y
        return dy * (1 - y * y)

    def export_onnx(self, graph, x):
        return graph.op("Tanh", x)


class Softplus(Activation):
    """log(1 + exp(beta * x)) / beta, and x itself where beta * x > threshold (as PyTorch)."""

    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def _forward(self, x):
        bx = self._bx = x * self.beta
        soft = (xp.maximum(bx, 0) + xp.log1p(xp.exp(-xp.abs(bx)))) / self.beta
        return xp.where(bx > self.threshold, x, soft)

    def _backward(self, dy):
        bx = self._bx
        return xp.where(bx > self.threshold, dy, dy * sigmoid(bx))

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"

    def export_onnx(self, graph, x):
        """ONNX Softplus of beta * x, over beta, and x itself where beta * x > threshold (ONNX Where)."""
        beta = graph.const(self.beta)
        bx = graph.op("Mul", x, beta)
        soft = graph.op("Div", graph.op("Softplus", bx), beta)
        return graph.op("Where", graph.op("Greater", bx, graph.const(self.threshold)), x, soft)
