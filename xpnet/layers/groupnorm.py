"""`GroupNorm` (Wu & He, 2018): normalise each sample over groups of channels and all positions.

Independent of the batch size, so it behaves the same in training and evaluation. With
num_groups=1 it normalises over (C, H, W) like LayerNorm over those axes; with
num_groups=num_channels it is instance normalisation. CS231n's "spatial group norm".
"""
from .. import init
from ..parameter import Parameter
from .base import Layer, check_input
from .norm import normalize, normalize_backward


class GroupNorm(Layer):
    """y = (x - mean) / sqrt(var + eps) * weight + bias, statistics per sample and group of channels.

    Input (N, C, *) with C = num_channels; the C channels form num_groups consecutive groups
    of C / num_groups channels each. weight and bias are per channel, as in torch.nn.GroupNorm.
    """

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True):
        super().__init__()
        if num_groups < 1 or num_channels < 1 or num_channels % num_groups:
            raise ValueError(f"GroupNorm num_channels must be a positive multiple of num_groups, got "
                             f"num_groups={num_groups}, num_channels={num_channels}")
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        self.weight = Parameter(init.ones((num_channels,))) if affine else None
        self.bias = Parameter(init.zeros((num_channels,))) if affine else None

    def _per_channel(self, v, ndim):
        return v.reshape((-1,) + (1,) * (ndim - 2))

    def _grouped(self, a):
        """(N, C, *) -> (N, G, C/G * prod(*)): each group's values along the last axis."""
        return a.reshape(a.shape[0], self.num_groups, -1)

    def forward(self, x):
        check_input(self, x, size=self.num_channels, min_ndim=2)
        x_hat, _, _, self._inv_std = normalize(self._grouped(x), 2, self.eps)
        self._x_hat = x_hat.reshape(x.shape)
        if not self.affine:
            return self._x_hat
        return self._x_hat * self._per_channel(self.weight.data, x.ndim) + self._per_channel(self.bias.data, x.ndim)

    def backward(self, dy):
        x_hat = self._x_hat
        if self.affine:
            axes = (0,) + tuple(range(2, dy.ndim))
            self.weight.accumulate((dy * x_hat).sum(axis=axes))
            self.bias.accumulate(dy.sum(axis=axes))
        if not self.needs_input_grad:
            return None
        g = dy * self._per_channel(self.weight.data, dy.ndim) if self.affine else dy
        return normalize_backward(self._grouped(g), self._grouped(x_hat), self._inv_std, 2).reshape(dy.shape)

    def extra_repr(self):
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"

    def export_onnx(self, graph, x):
        """Each sample's groups normalised (graph.normalize: InstanceNormalization of the (N, G, rest) view),
        then ONNX Mul and Add of the per-channel weight and bias."""
        y = graph.normalize(x, 0, self.num_groups, self.eps)
        if not self.affine:
            return y
        per_channel = (-1,) + (1,) * (len(graph.shape(x)) - 2)
        y = graph.op("Mul", y, graph.param("weight", self.weight, per_channel))
        return graph.op("Add", y, graph.param("bias", self.bias, per_channel))
