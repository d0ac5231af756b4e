"""Regression losses on the difference d = pred - target, elementwise (torch MSELoss, L1Loss, HuberLoss)."""
from ..backend import xp
from .base import Loss, same_shape_target


class _Difference(Loss):
    """A loss f(pred - target) per element; subclasses give f (`_value`) and f' (`_slope`)."""

    def _unreduced(self, pred, target):
        self._d = pred - same_shape_target(self, pred, target)
        return self._value(self._d), self._d.size

    def _grad(self, g):
        return g * self._slope(self._d)


class MSE(_Difference):
    """Mean squared error: d ** 2."""

    def __init__(self, *, reduction="mean"):
        super().__init__(reduction)

    def _value(self, d):
        return d * d

    def _slope(self, d):
        return 2 * d


class L1(_Difference):
    """Mean absolute error: |d|, with gradient sign(d) (0 at d = 0, as PyTorch)."""

    def __init__(self, *, reduction="mean"):
        super().__init__(reduction)

    def _value(self, d):
        return xp.abs(d)

    def _slope(self, d):
        return xp.sign(d)


class Huber(_Difference):
    """Huber loss: d ** 2 / 2 for |d| < delta, else delta * (|d| - delta / 2); gradient clip(d, -delta, delta).
    Its arguments come in PyTorch's order (HuberLoss has no deprecated ones before them)."""

    def __init__(self, reduction="mean", delta=1.0):
        super().__init__(reduction)
        if not delta > 0:
            raise ValueError(f"Huber: delta must be positive, got {delta}")
        self.delta = delta

    def _value(self, d):
        a = xp.abs(d)
        return xp.where(a < self.delta, 0.5 * d * d, self.delta * (a - 0.5 * self.delta))

    def _slope(self, d):
        return xp.clip(d, -self.delta, self.delta)
