"""STUB."""


class BCEWithLogits:
    """STUB: to be written."""
