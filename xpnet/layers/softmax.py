"""Softmax and LogSoftmax over one axis, shifted by the maximum so large logits stay finite."""
from ..backend import xp
from .base import Layer, check_input


class _SoftmaxBase(Layer):
    """Shared argument handling: `dim` is the axis normalised over (PyTorch's name)."""

    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        check_input(self, x, min_ndim=1)
        if not -x.ndim <= self.dim < x.ndim:
            raise ValueError(f"{type(self).__name__}(dim={self.dim}) needs dim in [{-x.ndim}, {x.ndim}), "
                             f"got shape {tuple(x.shape)}")
        shifted = x - x.max(axis=self.dim, keepdims=True)
        self._y = self._normalise(shifted)
        return self._y

    def backward(self, dy):
        return self._backward(dy) if self.needs_input_grad else None

    def extra_repr(self):
        return f"dim={self.dim}"


class Softmax(_SoftmaxBase):
    """exp(x) / sum(exp(x)) along `dim`; backward is y * (dy - sum(dy * y))."""

    def _normalise(self, shifted):
        e = xp.exp(shifted, out=shifted)
        e /= e.sum(axis=self.dim, keepdims=True)
        return e

    def _backward(self, dy):
        y = self._y
        return y * (dy - (dy * y).sum(axis=self.dim, keepdims=True))

    def export_onnx(self, graph, x):
        return graph.op("Softmax", x, axis=self.dim)


class LogSoftmax(_SoftmaxBase):
    """x - log(sum(exp(x))) along `dim`; backward is dy - exp(y) * sum(dy)."""

    def _normalise(self, shifted):
        shifted -= xp.log(xp.exp(shifted).sum(axis=self.dim, keepdims=True))
        return shifted

    def _backward(self, dy):
        return dy - xp.exp(self._y) * dy.sum(axis=self.dim, keepdims=True)

    def export_onnx(self, graph, x):
        return graph.op("LogSoftmax", x, axis=self.dim)
