"""LeNet-5 (LeCun et al., 1998) in its common modern form, for 28x28 MNIST digits.

The original used tanh-like squashing and trainable average-pooling "subsampling";
here ReLU and max-pooling stand in for them because they train faster and reach
99% on MNIST in a few epochs. The first convolution pads by 2 so 28x28 digits map
to the 32x32 input the original design expects (conv 5x5 -> 28, pool -> 14,
conv 5x5 -> 10, pool -> 5, giving 16 * 5 * 5 = 400 features). 61,706 parameters.
"""
from ..layers import Conv2D, Dense, Flatten, MaxPool2D, Sequential
from .activations import get_activation


def lenet5(in_channels=1, num_classes=10, activation="relu"):
    """conv 6@5x5 (pad 2) - act - pool - conv 16@5x5 - act - pool - 120 - act - 84 - act - classes.

    `activation` is a name such as "relu" (the default) or "tanh" (see `activations.py`).
    """
    return Sequential(
        Conv2D(in_channels, 6, 5, padding=2), get_activation(activation), MaxPool2D(2),
        Conv2D(6, 16, 5), get_activation(activation), MaxPool2D(2),
        Flatten(),
        Dense(16 * 5 * 5, 120), get_activation(activation),
        Dense(120, 84), get_activation(activation),
        Dense(84, num_classes),
    )
