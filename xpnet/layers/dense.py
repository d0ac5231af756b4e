"""STUB."""
from .base import Layer


class Dense(Layer):
    """STUB: to be written."""
