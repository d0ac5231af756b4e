"""Tiny models and data shared by the trainer and checkpoint tests."""
import numpy as np

from xpnet.backend import xp
from xpnet.layers import Dense, Layer, Sequential
from xpnet.optim import SGD


class RecordingDense(Dense):
    """Dense that records the mode of each forward and whether each backward was asked for dx."""

    def __init__(self, in_features, out_features):
        super().__init__(in_features, out_features)
        self.modes, self.input_grads = [], []

    def forward(self, x):
        self.modes.append(self.training)
        return super().forward(x)

    def backward(self, dy):
        self.input_grads.append(self.needs_input_grad)
        return super().backward(dy)


class Counter(Layer):
    """A parameter-free layer with an int64 buffer, like BatchNorm's num_batches_tracked."""

    def __init__(self):
        super().__init__()
        self.register_buffer("num_batches_tracked", xp.zeros((), dtype=xp.int64))

    def forward(self, x):
        return x

    def backward(self, dy):
        return dy


def tiny_model(n_in=4, hidden=6, classes=2):
    """Two Linear-like layers (no activation): state_dict keys 0.weight, 0.bias, 1.weight, 1.bias."""
    return Sequential(RecordingDense(n_in, hidden), RecordingDense(hidden, classes))


def blobs(n=48, n_in=4, seed=7):
    """Two linearly separable classes: host float32 x (n, n_in), int64 y (n,)."""
    g = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = g.normal(0.0, 0.5, (n, n_in)) + np.where(y[:, None] == 1, 1.5, -1.5)
    return x.astype(np.float32), y.astype(np.int64)


def weights(model):
    """Host copies of the model's state_dict values, in order."""
    return [p.copy() for p in model.state_dict().values()]


def sgd(model, lr=0.1, momentum=0.9):
    return SGD(model.parameters(), lr=lr, momentum=momentum)
