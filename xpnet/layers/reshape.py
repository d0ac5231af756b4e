"""Layers that pass their input's values on unchanged: `Flatten` merges a range of axes into one (by default
all but the batch axis), `Identity` passes the input as it is."""
import math

from .base import Layer, check_input


class Flatten(Layer):
    """(N, d1, d2, ...) -> (N, d1 * d2 * ...) with PyTorch's defaults start_dim=1, end_dim=-1."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        check_input(self, x, min_ndim=1)
        start, end = self.start_dim % x.ndim, self.end_dim % x.ndim
        if not (-x.ndim <= self.start_dim < x.ndim and -x.ndim <= self.end_dim < x.ndim and start <= end):
            raise ValueError(f"Flatten(start_dim={self.start_dim}, end_dim={self.end_dim}) does not fit "
                             f"an input of shape {tuple(x.shape)}")
        self._shape = x.shape
        return x.reshape(x.shape[:start] + (math.prod(x.shape[start:end + 1]),) + x.shape[end + 1:])

    def backward(self, dy):
        return dy.reshape(self._shape) if self.needs_input_grad else None

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"

    def export_onnx(self, graph, x):
        """ONNX Flatten for the default (all but the batch axis), else a Reshape keeping the batch axis free."""
        shape = graph.shape(x)
        start, end = self.start_dim % len(shape), self.end_dim % len(shape)
        if (start, end) == (1, len(shape) - 1):
            return graph.op("Flatten", x, axis=1)
        target = [0] * start + [-1] + list(shape[end + 1:])  # Reshape: 0 keeps that size, -1 takes the rest
        return graph.op("Reshape", x, graph.const(target, "int64"))


class Identity(Layer):
    """y = x, as torch.nn.Identity (which also takes and ignores any arguments): a placeholder, e.g. where
    `fusion.fuse` folded a batch norm away, so that the layers after it keep their names."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x

    def backward(self, dy):
        return dy if self.needs_input_grad else None

    def export_onnx(self, graph, x):
        """No node: the output is the input."""
        return x
