"""STUB."""


class MSE:
    """STUB: to be written."""


class L1:
    """STUB: to be written."""


class Huber:
    """STUB: to be written."""
