"""Batch norm folded into the convolution (or dense layer) before it, for inference.

In eval mode a batch norm is a fixed affine map per channel: with the running statistics,
y = (x - mean) / sqrt(var + eps) * gamma + beta = x * s + (beta - mean * s), where
s = gamma / sqrt(var + eps). After a convolution with weight W and bias b this is the
convolution with weight W * s (each output channel's filter scaled) and bias
b * s + beta - mean * s: one layer does the work of two, and the batch norm's pass over
the activations is gone. The same holds for a dense layer (its weight's rows scaled).
PyTorch offers both as torch.nn.utils.fusion.fuse_conv_bn_eval and fuse_linear_bn_eval,
and ONNX Runtime does it when it loads a model. In training a batch norm normalises by
each batch's own statistics, which no fixed weights reproduce: a fused model is for inference.
"""
import copy

from ..backend import backend_of, is_array, using, xp
from ..parameter import Parameter
from .batchnorm import _BatchNorm, channel_affine
from .container import Sequential
from .conv import Conv2D
from .dense import Dense
from .reshape import Identity


def fuse_conv_bn_eval(conv, bn):
    """A new Conv2D computing `bn(conv(x))` of the eval-mode layers `conv` (Conv2D) and `bn` (BatchNorm2D
    with running statistics), as torch.nn.utils.fusion.fuse_conv_bn_eval; the two layers are left as they are."""
    return _folded(conv, Conv2D, "out_channels", bn, "fuse_conv_bn_eval")


def fuse_linear_bn_eval(linear, bn):
    """A new Dense computing `bn(linear(x))` of the eval-mode layers `linear` (Dense) and `bn` (BatchNorm1D with
    running statistics), as torch.nn.utils.fusion.fuse_linear_bn_eval; the two layers are left as they are."""
    return _folded(linear, Dense, "out_features", bn, "fuse_linear_bn_eval")


def fuse(model):
    """A copy of `model` for inference, in eval mode: in every Sequential (at any depth), each Conv2D or Dense
    directly followed by a batch norm of its output that keeps running statistics replaced by their fusion,
    the batch norm by an `Identity`, so that the other layers keep their names and state_dict keys. Pairs
    with forward hooks are left as they are (a hook would see, or miss, a different output). Neither the
    gradients nor the inputs saved for a backward pass are copied. `model` itself is left as it is."""
    fused = _settings_copy(model).eval()
    for seq in [m for m in fused.modules() if type(m) is Sequential]:  # a subclass may not run its layers in order
        names = list(seq._children)
        for first, second in zip(names, names[1:]):
            layer, bn = getattr(seq, first), getattr(seq, second)
            fold = _fold_for(layer, bn)
            if fold is not None:
                setattr(seq, first, fold(layer, bn))
                setattr(seq, second, Identity())
    return fused


def _fold_for(layer, bn):
    """The fusion of `layer` followed by `bn`, or None where they do not fold."""
    hooked = layer.__dict__.get("_forward_hooks") or bn.__dict__.get("_forward_hooks")
    if hooked or not (isinstance(bn, _BatchNorm) and bn.track_running_stats):
        return None
    if type(layer) is Conv2D and 4 in bn.ranks:  # a batch norm that takes (N, C, H, W)
        return fuse_conv_bn_eval
    if type(layer) is Dense and 2 in bn.ranks:  # ... and one that takes (N, C)
        return fuse_linear_bn_eval
    return None


def _folded(layer, kind, outputs, bn, name):
    """A copy of `layer` (of type `kind`, with `outputs` its attribute naming the channels along its weight's
    first axis) with `bn` folded into it."""
    if type(layer) is not kind or not isinstance(bn, _BatchNorm):
        raise TypeError(f"{name} takes a {kind.__name__} and a batch norm, got {type(layer).__name__} and "
                        f"{type(bn).__name__}")
    if layer.training or bn.training:
        raise ValueError(f"{name}: the {kind.__name__} and the batch norm must be in eval mode (call .eval()): "
                         "in training a batch norm normalises by each batch's statistics, which fusion cannot keep")
    if not bn.track_running_stats:
        raise ValueError(f"{name}: {bn!r} keeps no running statistics (track_running_stats=False), so it "
                         "normalises by each batch's statistics in eval mode too: nothing to fold")
    if bn.num_features != getattr(layer, outputs):
        raise ValueError(f"{name}: the {kind.__name__} gives {getattr(layer, outputs)} channels, the batch norm "
                         f"expects {bn.num_features}")
    where, there = backend_of(layer.weight.data), backend_of(bn.running_mean)
    if where != there:
        raise ValueError(f"{name}: the {kind.__name__} is on the {where} backend and the batch norm on the {there} "
                         f"backend: move both with .to() first")
    with using(where):
        dtype = xp.result_type(layer.weight.data, bn.running_mean)  # the wider: rounded to the layer's only at the end
        inv_std, scale, shift = (xp.empty(bn.num_features, dtype) for _ in range(3))
        mean, var = (a.astype(dtype, copy=False) for a in (bn.running_mean, bn.running_var))
        weight, bias = ((bn.weight.data.astype(dtype, copy=False), bn.bias.data.astype(dtype, copy=False))
                        if bn.affine else (1.0, 0.0))
        channel_affine(mean, var, weight, bias, bn.eps, inv_std, scale, shift)
        if layer.bias is not None:
            shift += layer.bias.data * scale
        fused = _settings_copy(layer, also=(layer.weight, layer.bias))  # both replaced just below
        per_output = (-1,) + (1,) * (layer.weight.data.ndim - 1)
        kept = layer.weight.data.dtype
        fused.weight = Parameter((layer.weight.data * scale.reshape(per_output)).astype(kept, copy=False))
        fused.bias = Parameter(shift.astype(kept, copy=False))
    return fused


def _settings_copy(model, also=()):
    """A deep copy of `model` (a layer) without what training left in it: each parameter's gradient, and the
    arrays its layers saved for a backward pass (by convention, their private attributes holding arrays,
    directly or in a tuple), are None in the copy, as are the objects in `also`."""
    left_out = {id(a): None for a in also if a is not None}
    for m in model.modules():
        left_out.update((id(getattr(m, n).grad), None) for n in m._params if getattr(m, n).grad is not None)
        for key, value in vars(m).items():
            held = value if isinstance(value, (tuple, list)) else (value,)
            if key.startswith("_") and key not in m._buffers and any(is_array(a) for a in held):
                left_out[id(value)] = None
    return copy.deepcopy(model, left_out)
