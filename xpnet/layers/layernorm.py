"""`LayerNorm` (Ba et al., 2016): normalise each sample over its trailing `normalized_shape` axes."""
from .. import init
from ..parameter import Parameter
from .base import Layer, check_input
from .norm import normalize, normalize_backward


class LayerNorm(Layer):
    """y = (x - mean) / sqrt(var + eps) * weight + bias over the last len(normalized_shape) axes."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        if not shape or any(int(d) < 1 for d in shape):
            raise ValueError(f"LayerNorm normalized_shape must be positive sizes, got {normalized_shape}")
        self.normalized_shape = tuple(int(d) for d in shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        self.weight = Parameter(init.ones(self.normalized_shape)) if elementwise_affine else None
        self.bias = Parameter(init.zeros(self.normalized_shape)) if elementwise_affine else None

    def forward(self, x):
        k = len(self.normalized_shape)
        check_input(self, x, min_ndim=k)
        if tuple(x.shape[x.ndim - k:]) != self.normalized_shape:
            raise ValueError(f"LayerNorm expects an input ending in {self.normalized_shape}, "
                             f"got shape {tuple(x.shape)}")
        self._axes = tuple(range(x.ndim - k, x.ndim))
        self._x_hat, _, _, self._inv_std = normalize(x, self._axes, self.eps)
        if not self.elementwise_affine:
            return self._x_hat
        return self._x_hat * self.weight.data + self.bias.data

    def backward(self, dy):
        x_hat = self._x_hat
        if self.elementwise_affine:
            lead = tuple(range(dy.ndim - len(self.normalized_shape)))
            self.weight.accumulate((dy * x_hat).sum(axis=lead))
            self.bias.accumulate(dy.sum(axis=lead))
        if not self.needs_input_grad:
            return None
        g = dy * self.weight.data if self.elementwise_affine else dy
        return normalize_backward(g, x_hat, self._inv_std, self._axes)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"

    def export_onnx(self, graph, x):
        """ONNX LayerNormalization over the last len(normalized_shape) axes (weight 1 without affine)."""
        weight = graph.param("weight", self.weight) or graph.ones(self.normalized_shape)
        return graph.op("LayerNormalization", x, weight, graph.param("bias", self.bias), axis=-len(self.normalized_shape), epsilon=float(self.eps))
