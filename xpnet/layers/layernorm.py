"""STUB."""
from .base import Layer


class LayerNorm(Layer):
    """STUB: to be written."""
