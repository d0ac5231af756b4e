"""Batch norm folded into the convolution before it, for inference.

In eval mode a batch norm is a fixed affine map per channel: with the running statistics,
y = (x - mean) / sqrt(var + eps) * gamma + beta = x * s + (beta - mean * s), where
s = gamma / sqrt(var + eps). After a convolution with weight W and bias b this is the
convolution with weight W * s (each output channel's filter scaled) and bias
b * s + beta - mean * s: one layer does the work of two, and the batch norm's pass over
the activations is gone. PyTorch offers it as torch.nn.utils.fusion.fuse_conv_bn_eval,
and ONNX Runtime does it when it loads a model. In training a batch norm normalises by
each batch's own statistics, which no fixed weights reproduce: a fused model is for inference.
"""
import copy

from ..backend import xp
from ..parameter import Parameter
from .batchnorm import BatchNorm2D, channel_affine
from .container import Sequential
from .conv import Conv2D
from .reshape import Identity


def fuse_conv_bn_eval(conv, bn):
    """A new Conv2D computing `bn(conv(x))` of the eval-mode layers `conv` (Conv2D) and `bn` (BatchNorm2D
    with running statistics), as torch.nn.utils.fusion.fuse_conv_bn_eval; the two layers are left as they are."""
    if conv.training or bn.training:
        raise ValueError("fuse_conv_bn_eval: the convolution and the batch norm must be in eval mode (call .eval()): "
                         "in training a batch norm normalises by each batch's statistics, which fusion cannot keep")
    if not bn.track_running_stats:
        raise ValueError(f"fuse_conv_bn_eval: {bn!r} keeps no running statistics (track_running_stats=False), "
                         "so it normalises by each batch's statistics in eval mode too: nothing to fold")
    if bn.num_features != conv.out_channels:
        raise ValueError(f"fuse_conv_bn_eval: the convolution gives {conv.out_channels} channels, the batch norm "
                         f"expects {bn.num_features}")
    c, dtype = bn.num_features, conv.weight.data.dtype
    inv_std, scale, shift = (xp.empty(c, bn.running_mean.dtype) for _ in range(3))
    weight, bias = (bn.weight.data, bn.bias.data) if bn.affine else (1.0, 0.0)
    channel_affine(bn.running_mean, bn.running_var, weight, bias, bn.eps, inv_std, scale, shift)
    if conv.bias is not None:
        shift += conv.bias.data * scale
    replaced = {id(a): None for a in (conv.weight, conv.bias, conv._xpad) if a is not None}
    fused = copy.deepcopy(conv, replaced)  # the same settings; the parameters and saved input are not copied
    fused.weight = Parameter((conv.weight.data * scale.reshape(-1, 1, 1, 1)).astype(dtype, copy=False))
    fused.bias = Parameter(shift.astype(dtype, copy=False))
    return fused


def fuse(model):
    """A copy of `model` for inference, in eval mode: every Conv2D directly followed by a BatchNorm2D with
    running statistics in a Sequential (at any depth) replaced by their fusion (`fuse_conv_bn_eval`), the
    batch norm by an `Identity`, so that the other layers keep their names and state_dict keys. `model`
    itself is left as it is."""
    fused = copy.deepcopy(model).eval()
    for seq in [m for m in fused.modules() if isinstance(m, Sequential)]:
        names = list(seq._children)
        for first, second in zip(names, names[1:]):
            conv, bn = getattr(seq, first), getattr(seq, second)
            if isinstance(conv, Conv2D) and isinstance(bn, BatchNorm2D) and bn.track_running_stats:
                setattr(seq, first, fuse_conv_bn_eval(conv, bn))
                setattr(seq, second, Identity())
    return fused
