"""STUB."""
from .base import Layer


class MaxPool2D(Layer):
    """STUB: to be written."""


class AvgPool2D(Layer):
    """STUB: to be written."""


class GlobalAvgPool2D(Layer):
    """STUB: to be written."""
