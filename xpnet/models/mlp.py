"""Fully connected networks on flattened images."""
from ..layers import BatchNorm1D, Dense, Dropout, Flatten, LayerNorm, Sequential
from .activations import get_activation

NORMS = {None: None, "batch": BatchNorm1D, "layer": LayerNorm}


def fc_net(hidden=(100, 100), norm=None, dropout=0.0, in_features=784, num_classes=10, activation="relu"):
    """CS231n's fully connected net: {affine - [norm] - activation - [dropout]} x (L - 1) - affine.

    `norm` is None, "batch" (BatchNorm1D) or "layer" (LayerNorm); `dropout` is the
    probability of zeroing a hidden unit (0 leaves Dropout out); `activation` is a
    name such as "relu" or "leaky_relu:0.001" (see `activations.py`).
    """
    if norm not in NORMS:
        raise ValueError(f"fc_net: norm must be one of None, 'batch', 'layer', got {norm!r}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"fc_net: dropout must be in [0, 1), got {dropout!r}")
    layers = [Flatten()]
    width = in_features
    for size in hidden:
        layers.append(Dense(width, size))
        if norm is not None:
            layers.append(NORMS[norm](size))
        layers.append(get_activation(activation))
        if dropout > 0:
            layers.append(Dropout(dropout))
        width = size
    layers.append(Dense(width, num_classes))
    return Sequential(*layers)


def mlp(hidden=(400, 100), in_features=784, num_classes=10, activation="relu"):
    """A plain multilayer perceptron, 784-400-100-10 with ReLU by default."""
    return fc_net(hidden, in_features=in_features, num_classes=num_classes, activation=activation)
