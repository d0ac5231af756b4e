"""The built-in models' `activation` keyword: a new activation layer from a name such as "leaky_relu:0.001".

A spec is one of:

- a name from `ACTIVATIONS`: "relu", "leaky_relu", "prelu", "elu", "gelu", "sigmoid", "tanh", "softplus";
- a name, a colon and the value of that activation's one option (`OPTIONS`): "leaky_relu:0.001"
  (negative_slope), "prelu:0.1" (init), "elu:0.5" (alpha), "gelu:tanh" (approximate), "softplus:2" (beta);
- a callable that returns a new `Layer`, as PyTorch's `activation_layer=`: `LeakyReLU`, `lambda: ELU(0.5)`.

Every call returns a fresh layer, so a model's PReLUs each learn their own slope.
"""
from ..layers import ELU, GELU, Layer, LeakyReLU, PReLU, ReLU, Sigmoid, Softplus, Tanh

ACTIVATIONS = {
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "prelu": PReLU,
    "elu": ELU,
    "gelu": GELU,
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "softplus": Softplus,
}
OPTIONS = {  # name: (keyword the value after the colon sets, its type)
    "leaky_relu": ("negative_slope", float),
    "prelu": ("init", float),
    "elu": ("alpha", float),
    "gelu": ("approximate", str),
    "softplus": ("beta", float),
}


def get_activation(spec="relu"):
    """A new activation layer from `spec` (see the module docstring); ValueError naming the valid forms."""
    if callable(spec):
        layer = spec()
        if not isinstance(layer, Layer):
            raise TypeError(f"activation: the callable {spec!r} returned {type(layer).__name__}, expected a Layer")
        return layer
    if not isinstance(spec, str):
        raise TypeError(f"activation: expected a name or a callable returning a Layer, got {type(spec).__name__}")
    name, colon, value = spec.partition(":")
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}: expected one of {', '.join(ACTIVATIONS)}")
    if not colon:
        return ACTIVATIONS[name]()
    if name not in OPTIONS:
        raise ValueError(f"activation {spec!r}: {name} takes no option; only "
                         f"{', '.join(f'{n}:<{k}>' for n, (k, _) in OPTIONS.items())} do")
    keyword, kind = OPTIONS[name]
    try:
        return ACTIVATIONS[name](**{keyword: kind(value)})
    except ValueError as exc:
        raise ValueError(f"activation {spec!r}: bad {keyword} {value!r} ({exc})") from None
