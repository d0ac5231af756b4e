"""STUB."""
from .base import Layer


class ConvTranspose2D(Layer):
    """STUB: to be written."""
