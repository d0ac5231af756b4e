"""STUB."""
from .base import Layer


class Dropout(Layer):
    """STUB: to be written."""
