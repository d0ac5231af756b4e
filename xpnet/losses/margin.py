"""STUB."""


class MultiMargin:
    """STUB: to be written."""
