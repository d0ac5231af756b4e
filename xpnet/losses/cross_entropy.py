"""STUB."""


class SoftmaxCrossEntropy:
    """STUB: to be written."""
