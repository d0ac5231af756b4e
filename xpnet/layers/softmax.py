"""Softmax and LogSoftmax over one axis, shifted by the maximum so large logits stay finite."""
from ..backend import xp
from .base import Layer, check_input


class _SoftmaxBase(Layer):
    """Shared argument handling: `dim` is the axis normalised over (PyTorch's name).

    With no `dim`, PyTorch picks an axis by the input's rank, a choice it deprecates; the two agree on the
    last axis of a 1-D or 2-D input (a vector, or a batch of logits), and any other rank needs `dim`."""

    def __init__(self, dim=None):
        super().__init__()
        if dim is not None and (not isinstance(dim, int) or isinstance(dim, bool)):
            raise TypeError(f"{type(self).__name__}: dim must be an int or None, got {dim!r}")
        self.dim = dim

    def axis(self, ndim):
        """The axis normalised over for an input of rank `ndim`; ValueError when there is none."""
        name = type(self).__name__
        if self.dim is None:
            if ndim > 2:
                raise ValueError(f"{name}() needs dim for a {ndim}-D input (without it only 1-D and 2-D inputs have "
                                 f"an axis, the last): pass e.g. {name}(dim=1) for the channels of NCHW")
            return -1
        if not -ndim <= self.dim < ndim:
            raise ValueError(f"{name}(dim={self.dim}) needs dim in [{-ndim}, {ndim}), got a {ndim}-D input")
        return self.dim

    def forward(self, x):
        check_input(self, x, min_ndim=1)
        self._dim = self.axis(x.ndim)
        shifted = x - x.max(axis=self._dim, keepdims=True)
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
        e /= e.sum(axis=self._dim, keepdims=True)
        return e

    def _backward(self, dy):
        y = self._y
        return y * (dy - (dy * y).sum(axis=self._dim, keepdims=True))

    def export_onnx(self, graph, x):
        return graph.op("Softmax", x, axis=self.axis(len(graph.shape(x))))


class LogSoftmax(_SoftmaxBase):
    """x - log(sum(exp(x))) along `dim`; backward is dy - exp(y) * sum(dy)."""

    def _normalise(self, shifted):
        shifted -= xp.log(xp.exp(shifted).sum(axis=self._dim, keepdims=True))
        return shifted

    def _backward(self, dy):
        return dy - xp.exp(self._y) * dy.sum(axis=self._dim, keepdims=True)

    def export_onnx(self, graph, x):
        return graph.op("LogSoftmax", x, axis=self.axis(len(graph.shape(x))))
