"""Convolutional classifiers for 28x28 images: a minimal one and a small VGG-style one."""
from ..layers import BatchNorm2D, Conv2D, Dense, Dropout, Flatten, MaxPool2D, Sequential
from .activations import get_activation


def simple_cnn(channels=8, in_channels=1, num_classes=10, image_size=28, activation="relu"):
    """The smallest useful CNN: conv 3x3 (pad 1) - activation - max-pool 2 - dense to the classes.

    `activation` is a name such as "relu" or "leaky_relu:0.001" (see `activations.py`).
    """
    side = image_size // 2
    return Sequential(
        Conv2D(in_channels, channels, 3, padding=1), get_activation(activation), MaxPool2D(2),
        Flatten(),
        Dense(channels * side * side, num_classes),
    )


def _conv_bn_act(in_channels, out_channels, activation):
    """3x3 convolution (no bias: BatchNorm's shift replaces it) - batch norm - activation."""
    return [Conv2D(in_channels, out_channels, 3, padding=1, bias=False), BatchNorm2D(out_channels),
            get_activation(activation)]


def fashion_cnn(widths=(32, 64), hidden=128, dropout=0.5, in_channels=1, num_classes=10, image_size=28,
                activation="relu"):
    """A small VGG-style net for Fashion-MNIST (about 92% test accuracy after 5-10 epochs of Adam).

    Each stage is two conv-bn-activation blocks then a 2x2 max-pool, so with the default
    widths: 28x28 -> 32@14x14 -> 64@7x7 -> dense 128 (dropout) -> classes.
    """
    layers, channels, side = [], in_channels, image_size
    for width in widths:
        layers += _conv_bn_act(channels, width, activation) + _conv_bn_act(width, width, activation) + [MaxPool2D(2)]
        channels, side = width, side // 2
    layers += [Flatten(), Dense(channels * side * side, hidden), get_activation(activation)]
    if dropout > 0:
        layers.append(Dropout(dropout))
    layers.append(Dense(hidden, num_classes))
    return Sequential(*layers)
