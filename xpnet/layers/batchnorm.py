"""STUB."""
from .base import Layer


class BatchNorm1D(Layer):
    """STUB: to be written."""


class BatchNorm2D(Layer):
    """STUB: to be written."""
