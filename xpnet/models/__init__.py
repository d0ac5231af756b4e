"""Built-in models: functions that return a `Sequential` with PyTorch-compatible state_dict keys.

`get_model("lenet5")` builds one by name; `MODELS` lists them all. Each takes an `activation`
(default "relu"; `get_activation` lists the forms).
"""
from .activations import ACTIVATIONS, get_activation
from .cnn import fashion_cnn, simple_cnn
from .lenet import lenet5
from .mlp import fc_net, mlp

MODELS = {
    "lenet5": lenet5,
    "mlp": mlp,
    "fc_net": fc_net,
    "simple_cnn": simple_cnn,
    "fashion_cnn": fashion_cnn,
}


def get_model(name, **kwargs):
    """Build the model registered as `name`; keyword arguments go to its function."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}: expected one of {', '.join(MODELS)}")
    return MODELS[name](**kwargs)


__all__ = ["ACTIVATIONS", "MODELS", "fashion_cnn", "fc_net", "get_activation", "get_model", "lenet5", "mlp",
           "simple_cnn"]
