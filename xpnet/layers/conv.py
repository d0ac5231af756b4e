"""STUB."""
from .base import Layer


class Conv2D(Layer):
    """STUB: to be written."""
