"""`Dropout`: inverted dropout, zeroing each element with probability p while training.

Kept elements are scaled by 1 / (1 - p) so the expected output equals the input and
evaluation is the identity. The mask comes from `ops.random`: xpnet's seeded host
generator on the CPU, CuPy's device generator on the GPU (both seeded by
`xpnet.backend.seed`), so no mask crosses from host to device each step. The two
backends therefore draw different masks; code that needs the same one on both (the
parity check) passes its own source of uniform draws as `uniform`.
"""
from ..backend import layout, ops, xp
from .base import Layer, check_input


class Dropout(Layer):
    """Zero elements with probability `p` in training (scaling the rest); identity in eval."""

    def __init__(self, p=0.5, *, uniform=None):
        """`uniform(shape, dtype)`: draws in [0, 1) on the current backend (any float dtype) that decide which
        elements are kept (those >= p); default `ops.random`, the backend's seeded generator."""
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"Dropout probability must be in [0, 1], got {p}")
        self.p = p
        self.uniform = uniform
        self._kept = None

    def _mask(self, shape, dtype):
        """1 / (1 - p) where an element is kept, 0 where dropped, as an array of `dtype` (p = 1 drops all)."""
        mask = ((self.uniform or ops.random)(shape, dtype) >= self.p).astype(dtype)
        if self.p < 1:
            mask *= 1 / (1 - self.p)
        return mask

    def forward(self, x):
        check_input(self, x)
        if not self.training or self.p == 0:
            self._kept = None
            return x
        self._kept = self._mask(x.shape, x.dtype)
        return _times(x, self._kept)

    def backward(self, dy):
        if not self.needs_input_grad:
            return None
        return dy if self._kept is None else _times(dy, self._kept)

    def extra_repr(self):
        return f"p={self.p}"

    def export_onnx(self, graph, x):
        """The identity: an exported model runs in eval mode."""
        return graph.op("Identity", x)


def _times(a, mask):
    """a * mask in a's memory order (batch-last stays batch-last for the next layer; the mask is drawn in C order)."""
    out = layout.empty_like(a)
    xp.multiply(a, mask, out=out)
    return out
