"""`MultiMargin`: the multiclass SVM hinge loss (torch.nn.MultiMarginLoss, CS231n's SVM loss divided by C)."""
from ..backend import xp
from .base import Loss, check_logits, class_targets, class_weight


class MultiMargin(Loss):
    """sum over j != y of max(0, margin - x_y + x_j) ** p, times weight[y], divided by C, per sample."""

    def __init__(self, p=1, margin=1.0, weight=None, *, reduction="mean"):
        super().__init__(reduction)
        if p not in (1, 2):
            raise ValueError(f"MultiMargin: p must be 1 or 2, got {p!r}")
        self.p, self.margin, self.weight = p, margin, weight

    def _unreduced(self, x, target):
        check_logits(self, x)
        n, c = x.shape
        t, factor = class_targets(self, x, target)
        if self.weight is not None:
            factor = factor * class_weight(self, self.weight, x)[t]
        rows = xp.arange(n)
        h = xp.maximum(self.margin - x[rows, t][:, None] + x, 0)
        h[rows, t] = 0  # only the wrong classes have a hinge
        slope = (h > 0).astype(x.dtype) if self.p == 1 else 2 * h
        slope *= (factor / c)[:, None]
        slope[rows, t] -= slope.sum(axis=1)
        self._slope = slope
        return factor / c * (h if self.p == 1 else h * h).sum(axis=1), n

    def _grad(self, g):
        return g[:, None] * self._slope
