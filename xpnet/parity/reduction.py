"""The longest sum a case performs, from its component and its input shape: the `k` of `compare.tolerance`.

Each layer that sums has a rule below, given its input and output shapes. A
model's (or container's) longest sum is the longest of its layers', whose
shapes come from one forward pass on zeros. Layers without a rule sum nothing:
activations, Flatten, Dropout, and MaxPool2D, whose backward adds at most the
few gradients that overlapping windows route to one input, well inside the
headroom of C32 in compare.py.
"""
import math

import numpy as host  # the probing input is made on the host

from .. import layers as L
from .. import losses
from ..backend import asarray, get_default_dtype


def _window(conv):
    """Channels per group times the kernel: the sum behind one output, or (input gradient) one input."""
    return max(conv.in_channels, conv.out_channels) // conv.groups * math.prod(conv.kernel_size)


def _positions(shape):
    """N times the spatial size: a weight or bias gradient sums over every such position."""
    return shape[0] * math.prod(shape[2:])


def _per_channel(x):
    """Everything but axis 1: what batch norm averages and a per-channel weight gradient sums."""
    return math.prod(x) // x[1]


def _layer_norm(m, x):
    """The normalised elements, and the leading ones its weight gradient sums over."""
    size = math.prod(m.normalized_shape)
    return max(size, math.prod(x) // size)


def _group_norm(m, x):
    """The elements of one group of one sample, and the per-channel sums of the weight gradient."""
    spatial = math.prod(x[2:])
    return max(m.num_channels // m.num_groups * spatial, x[0] * spatial)


RULES = {  # layer type: (layer, input shape, output shape) -> its longest sum
    L.Conv2D: lambda m, x, y: max(_window(m), _positions(y)),
    L.ConvTranspose2D: lambda m, x, y: max(_window(m), _positions(x), _positions(y)),
    L.Dense: lambda m, x, y: max(m.in_features, m.out_features, math.prod(x[:-1])),
    L.BatchNorm1D: lambda m, x, y: _per_channel(x),
    L.BatchNorm2D: lambda m, x, y: _per_channel(x),
    L.LayerNorm: lambda m, x, y: _layer_norm(m, x),
    L.GroupNorm: lambda m, x, y: _group_norm(m, x),
    L.PReLU: lambda m, x, y: _per_channel(x) if m.num_parameters > 1 else math.prod(x),
    L.Softmax: lambda m, x, y: x[m.axis(len(x))],
    L.LogSoftmax: lambda m, x, y: x[m.axis(len(x))],
    L.AvgPool2D: lambda m, x, y: math.prod(m.kernel_size),
    L.GlobalAvgPool2D: lambda m, x, y: math.prod(x[2:]),
}
PER_SAMPLE = (losses.SoftmaxCrossEntropy, losses.MultiMargin)  # losses that sum over classes within a sample


def leaf_shapes(model, shape):
    """(layer, input shape, output shape) of every layer in `model` without sub-layers, in call order, and the
    model's output shape, from one forward pass in eval mode on zeros of `shape` on the current backend.

    `model` should be a copy made for this: it is left in eval mode."""
    leaves = [m for m in model.modules() if not m.named_children()]
    seen = []
    handles = [m.register_forward_hook(lambda layer, x, y: seen.append((layer, tuple(x.shape), tuple(y.shape))))
               for m in leaves]
    try:
        y = model.eval()(asarray(host.zeros(shape), get_default_dtype()))
    finally:
        for handle in handles:
            handle.remove()
    return seen, tuple(y.shape)


def longest_reduction(model, shape, loss=None):
    """The longest sum `model` performs on inputs of `shape` (forward and backward), and then `loss` on its
    output when given (as in training)."""
    seen, out = leaf_shapes(model, shape)
    sums = [_longest_sum(m, x, y) for m, x, y in seen]
    if loss is not None:
        sums.append(loss_reduction(loss, out))
    return max(sums + [1])


def _longest_sum(layer, x, y):
    """The rule for `layer`'s type (or nearest base type) applied to its shapes; 1 for layers without one."""
    rule = next((RULES[t] for t in type(layer).__mro__ if t in RULES), None)
    return rule(layer, x, y) if rule else 1


def loss_reduction(loss, shape):
    """The longest sum of `loss` on scores of `shape`: over a sample's classes (cross entropy, multi-margin), and
    over the unreduced values unless the reduction is "none"."""
    classes = shape[1] if isinstance(loss, PER_SAMPLE) else 1
    values = math.prod(shape) // classes if loss.reduction != "none" else 1
    return max(classes, values)
