"""STUB."""
from .base import Layer


class ReLU(Layer):
    """STUB: to be written."""


class LeakyReLU(Layer):
    """STUB: to be written."""


class PReLU(Layer):
    """STUB: to be written."""


class ELU(Layer):
    """STUB: to be written."""


class GELU(Layer):
    """STUB: to be written."""


class Sigmoid(Layer):
    """STUB: to be written."""


class Tanh(Layer):
    """STUB: to be written."""


class Softplus(Layer):
    """STUB: to be written."""
