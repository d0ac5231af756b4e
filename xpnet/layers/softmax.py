"""STUB."""
from .base import Layer


class Softmax(Layer):
    """STUB: to be written."""


class LogSoftmax(Layer):
    """STUB: to be written."""
