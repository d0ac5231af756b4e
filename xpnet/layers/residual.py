"""STUB."""
from .base import Layer


class Residual(Layer):
    """STUB: to be written."""
