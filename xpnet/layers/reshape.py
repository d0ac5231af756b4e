"""STUB."""
from .base import Layer


class Flatten(Layer):
    """STUB: to be written."""
