"""Batch norm folded into the convolution (or dense layer) before it, for inference.

In eval mode a batch norm is a fixed affine map per channel: with the running statistics,
y = (x - mean) / sqrt(var + eps) * gamma + beta = x * s + (beta - mean * s), where
s = gamma / sqrt(var + eps). After a convolution with weight W and bias b this is the
convolution with weight W * s (each output channel's filter scaled) and bias
b * s + beta - mean * s: one layer does the work of two, and the batch norm's pass over
the activations is gone. The same holds for a dense layer (its weight's rows scaled). PyTorch
offers both as torch.nn.utils.fusion.fuse_conv_bn_eval and fuse_linear_bn_eval, and ONNX Runtime
does it when it loads a model. In training a batch norm normalises by
each batch's own statistics, which no fixed weights reproduce: a fused model is for inference.
"""
import copy

from ..backend import xp
from ..parameter import Parameter
from .batchnorm import _BatchNorm, channel_affine
from .container import Sequential
from .conv import Conv2D
from .dense import Dense
from .reshape import Identity


def fuse_conv_bn_eval(conv, bn):
    """A new Conv2D computing `bn(conv(x))` of the eval-mode layers `conv` (Conv2D) and `bn` (BatchNorm2D
    with running statistics), as torch.nn.utils.fusion.fuse_conv_bn_eval; the two layers are left as they are."""
    return _folded(conv, bn, conv.out_channels, "fuse_conv_bn_eval")


def fuse_linear_bn_eval(linear, bn):
    """A new Dense computing `bn(linear(x))` of the eval-mode layers `linear` (Dense) and `bn` (BatchNorm1D with
    running statistics), as torch.nn.utils.fusion.fuse_linear_bn_eval; the two layers are left as they are."""
    return _folded(linear, bn, linear.out_features, "fuse_linear_bn_eval")


def _folded(layer, bn, outputs, name):
    """A copy of `layer`, whose weight's first axis runs over its `outputs`, with `bn` folded into it."""
    if layer.training or bn.training:
        raise ValueError(f"{name}: the {type(layer).__name__} and the batch norm must be in eval mode (call .eval()): "
                         "in training a batch norm normalises by each batch's statistics, which fusion cannot keep")
    if not bn.track_running_stats:
        raise ValueError(f"{name}: {bn!r} keeps no running statistics (track_running_stats=False), so it "
                         "normalises by each batch's statistics in eval mode too: nothing to fold")
    if bn.num_features != outputs:
        raise ValueError(f"{name}: the {type(layer).__name__} gives {outputs} channels, the batch norm expects "
                         f"{bn.num_features}")
    c, dtype = bn.num_features, layer.weight.data.dtype
    inv_std, scale, shift = (xp.empty(c, bn.running_mean.dtype) for _ in range(3))
    weight, bias = (bn.weight.data, bn.bias.data) if bn.affine else (1.0, 0.0)
    channel_affine(bn.running_mean, bn.running_var, weight, bias, bn.eps, inv_std, scale, shift)
    if layer.bias is not None:
        shift += layer.bias.data * scale
    # A copy of the settings only: the parameters, replaced below, and any input saved for a backward pass
    # are left out (None).
    left_out = {id(v): None for v in vars(layer).values() if isinstance(v, Parameter) or hasattr(v, "shape")}
    fused = copy.deepcopy(layer, left_out)
    per_output = (-1,) + (1,) * (layer.weight.data.ndim - 1)
    fused.weight = Parameter((layer.weight.data * scale.reshape(per_output)).astype(dtype, copy=False))
    fused.bias = Parameter(shift.astype(dtype, copy=False))
    return fused


def fuse(model):
    """A copy of `model` for inference, in eval mode: in every Sequential (at any depth), each Conv2D or Dense
    directly followed by a batch norm with running statistics (BatchNorm2D or BatchNorm1D, or any batch norm
    that takes the layer's output) replaced by their fusion, the batch norm by an `Identity`, so that the other
    layers keep their names and state_dict keys. `model` itself is left as it is."""
    fused = copy.deepcopy(model).eval()
    for seq in [m for m in fused.modules() if isinstance(m, Sequential)]:
        names = list(seq._children)
        for first, second in zip(names, names[1:]):
            layer, bn = getattr(seq, first), getattr(seq, second)
            fold = next((f for kind, rank, f in _FOLDS if isinstance(layer, kind) and isinstance(bn, _BatchNorm)
                         and rank in bn.ranks and bn.track_running_stats), None)
            if fold is not None:
                setattr(seq, first, fold(layer, bn))
                setattr(seq, second, Identity())
    return fused


_FOLDS = [(Conv2D, 4, fuse_conv_bn_eval), (Dense, 2, fuse_linear_bn_eval)]  # (layer, rank of its output, fold)
