"""`BCEWithLogits`: sigmoid and binary cross entropy in one stable step (torch.nn.BCEWithLogitsLoss)."""
from ..backend import asarray, xp
from .base import Loss, same_shape_target


class BCEWithLogits(Loss):
    """Binary cross entropy of logits x against targets y in [0, 1], elementwise.

    With log sigmoid(x) = -softplus(-x) the loss is (1 - y) x + (1 + (pw - 1) y) softplus(-x),
    where softplus(-x) = max(-x, 0) + log1p(exp(-|x|)) never overflows. `weight`
    rescales each element and `pos_weight` the positive term; both broadcast
    against the prediction (pos_weight usually has one entry per class, the last axis).
    """

    def __init__(self, weight=None, *, reduction="mean", pos_weight=None):
        super().__init__(reduction)
        self.weight, self.pos_weight = weight, pos_weight

    def _unreduced(self, x, target):
        y = same_shape_target(self, x, target)
        e = xp.exp(-xp.abs(x))
        softplus_neg = xp.maximum(-x, 0) + xp.log1p(e)
        sigmoid = xp.where(x >= 0, 1 / (1 + e), e / (1 + e))
        pos = 1.0 if self.pos_weight is None else self._broadcast("pos_weight", self.pos_weight, x)
        coef = 1 + (pos - 1) * y  # weight of softplus(-x)
        w = 1.0 if self.weight is None else self._broadcast("weight", self.weight, x)
        self._dx = w * ((1 - y) + coef * (sigmoid - 1))
        return w * ((1 - y) * x + coef * softplus_neg), x.size

    def _grad(self, g):
        return g * self._dx

    def _broadcast(self, name, value, x):
        """`value` on the backend in x's dtype, checked to broadcast to x's shape without growing it."""
        v = asarray(value, x.dtype)
        tail = x.shape[len(x.shape) - v.ndim:] if v.ndim else ()
        if v.ndim > x.ndim or any(a not in (1, b) for a, b in zip(v.shape, tail)):
            raise ValueError(f"BCEWithLogits: expected {name} broadcastable to the prediction shape "
                             f"{tuple(x.shape)}, got shape {tuple(v.shape)}")
        return v
