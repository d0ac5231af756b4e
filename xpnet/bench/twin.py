"""`torch_twin(model)`: the same network in torch.nn, holding the xpnet model's weights.

Each xpnet layer class maps to its torch.nn counterpart built from the layer's own
attributes; the twin then loads the xpnet `state_dict()` (whose keys are PyTorch's)
with strict=True, so both frameworks start from identical weights and buffers.
"""
import importlib

from .. import layers as L


def _residual_class(nn):
    class Residual(nn.Module):
        """body(x) + shortcut(x), children named as in xpnet's Residual."""

        def __init__(self, body, shortcut):
            super().__init__()
            self.body, self.shortcut = body, shortcut

        def forward(self, x):
            return self.body(x) + (x if self.shortcut is None else self.shortcut(x))

    return Residual


def _conv_args(m):
    return dict(in_channels=m.in_channels, out_channels=m.out_channels, kernel_size=m.kernel_size, stride=m.stride,
                padding=m.padding, dilation=m.dilation, groups=m.groups, bias=m.bias is not None)


def _norm_args(m):
    return dict(num_features=m.num_features, eps=m.eps, momentum=m.momentum, affine=m.affine,
                track_running_stats=m.track_running_stats)


# xpnet class -> (nn, twin of the children, layer) -> torch module
_BUILDERS = {
    L.Dense: lambda nn, sub, m: nn.Linear(m.in_features, m.out_features, bias=m.bias is not None),
    L.Conv2D: lambda nn, sub, m: nn.Conv2d(**_conv_args(m)),
    L.ConvTranspose2D: lambda nn, sub, m: nn.ConvTranspose2d(output_padding=m.output_padding, **_conv_args(m)),
    L.MaxPool2D: lambda nn, sub, m: nn.MaxPool2d(m.kernel_size, m.stride, m.padding),
    L.AvgPool2D: lambda nn, sub, m: nn.AvgPool2d(m.kernel_size, m.stride, m.padding),
    L.GlobalAvgPool2D: lambda nn, sub, m: nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()),
    L.Flatten: lambda nn, sub, m: nn.Flatten(m.start_dim, m.end_dim),
    L.Identity: lambda nn, sub, m: nn.Identity(),
    L.Dropout: lambda nn, sub, m: nn.Dropout(m.p),
    L.BatchNorm1D: lambda nn, sub, m: nn.BatchNorm1d(**_norm_args(m)),
    L.BatchNorm2D: lambda nn, sub, m: nn.BatchNorm2d(**_norm_args(m)),
    L.LayerNorm: lambda nn, sub, m: nn.LayerNorm(m.normalized_shape, m.eps, m.elementwise_affine),
    L.GroupNorm: lambda nn, sub, m: nn.GroupNorm(m.num_groups, m.num_channels, m.eps, m.affine),
    L.ReLU: lambda nn, sub, m: nn.ReLU(),
    L.LeakyReLU: lambda nn, sub, m: nn.LeakyReLU(m.negative_slope),
    L.PReLU: lambda nn, sub, m: nn.PReLU(m.num_parameters),
    L.ELU: lambda nn, sub, m: nn.ELU(m.alpha),
    L.GELU: lambda nn, sub, m: nn.GELU(approximate=m.approximate),
    L.Sigmoid: lambda nn, sub, m: nn.Sigmoid(),
    L.Tanh: lambda nn, sub, m: nn.Tanh(),
    L.Softplus: lambda nn, sub, m: nn.Softplus(m.beta, m.threshold),
    L.Softmax: lambda nn, sub, m: nn.Softmax(-1 if m.dim is None else m.dim),
    L.LogSoftmax: lambda nn, sub, m: nn.LogSoftmax(-1 if m.dim is None else m.dim),
    L.Sequential: lambda nn, sub, m: nn.Sequential(*(sub(layer) for layer in m)),
    L.Residual: lambda nn, sub, m: _residual_class(nn)(sub(m.body), None if m.shortcut is None else sub(m.shortcut)),
}


def _build(nn, layer):
    for cls in type(layer).__mro__:
        if cls in _BUILDERS:
            return _BUILDERS[cls](nn, lambda child: _build(nn, child), layer)
    raise TypeError(f"torch_twin: no torch.nn counterpart for xpnet layer {type(layer).__name__}")


def torch_twin(model, device="cpu"):
    """A torch.nn module equal to xpnet `model`: same structure, weights, buffers and train/eval mode."""
    torch = importlib.import_module("torch")
    twin = _build(torch.nn, model)
    state = {k: torch.from_numpy(v.copy()) for k, v in model.state_dict().items()}
    twin.load_state_dict(state, strict=True)
    return twin.train(model.training).to(device)
