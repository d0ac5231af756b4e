"""`Loss`: the base of every loss, and the target checks the losses share.

A subclass computes the unreduced loss (one value per element or per sample) in
`_unreduced` and its gradient in `_grad`; this class applies `reduction`
("mean", "sum", "none") forwards and backwards, so no loss repeats that logic.
Everything stays on the backend: the reduced loss is a 0-d array, never a float.
"""
from ..backend import asarray, backend_of, check_backend, to_numpy, xp

REDUCTIONS = ("mean", "sum", "none")


class Loss:
    """`loss(pred, target)` -> loss array; `loss.backward(dy=None)` -> d loss / d pred."""

    def __init__(self, reduction="mean"):
        if reduction not in REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: reduction must be one of {', '.join(REDUCTIONS)}, "
                             f"got {reduction!r}")
        self.reduction = reduction
        self._shape = None  # shape of the unreduced loss, set by forward

    def __call__(self, pred, target):
        return self.forward(pred, target)

    @property
    def denominator(self):
        """What the last forward pass's "mean" divided the summed loss by (a number or a 0-d array): the
        sample or element count, or the summed weights of weighted and ignored targets."""
        if self._shape is None:
            raise RuntimeError(f"{type(self).__name__}.denominator read before forward")
        return self._denom

    def forward(self, pred, target):
        if getattr(pred, "dtype", None) is None or pred.dtype.kind != "f":
            raise ValueError(f"{type(self).__name__}: expected a floating-point prediction array, got "
                             f"{type(pred).__name__} of dtype {getattr(pred, 'dtype', None)}")
        check_backend(pred, type(self).__name__, "prediction")
        per, denom = self._unreduced(pred, target)
        self._shape, self._dtype, self._denom = per.shape, pred.dtype, denom
        if self.reduction == "none":
            return per
        total = per.sum() if self.reduction == "sum" else per.sum() / denom
        return xp.asarray(total, dtype=pred.dtype)  # NumPy's sum gives a scalar; keep a 0-d array

    def backward(self, dy=None):
        """d loss / d pred; `dy` is the upstream gradient, shaped like the loss (default 1)."""
        if self._shape is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        out_shape = self._shape if self.reduction == "none" else ()
        g = xp.ones(out_shape, self._dtype) if dy is None else xp.asarray(dy, dtype=self._dtype)
        if g.shape != out_shape:
            raise ValueError(f"{type(self).__name__}.backward: expected an upstream gradient of shape "
                             f"{out_shape}, got {g.shape}")
        if self.reduction != "none":
            g = xp.broadcast_to(g, self._shape)
        if self.reduction == "mean":
            g = g / self._denom
        return self._grad(g)

    def _unreduced(self, pred, target):
        """(per-element or per-sample loss, denominator of the mean); caches what `_grad` needs."""
        raise NotImplementedError

    def _grad(self, g):
        """d pred given `g` = upstream gradient of the unreduced loss."""
        raise NotImplementedError


def ensure_array(target):
    """`target` itself if it is an array, else (lists, scalars) a host NumPy array of it."""
    return target if hasattr(target, "dtype") and hasattr(target, "shape") else to_numpy(target)


def target_error(loss, expected, target):
    return ValueError(f"{type(loss).__name__}: expected target {expected}, got shape {tuple(target.shape)} "
                      f"dtype {target.dtype}")


def same_shape_target(loss, pred, target):
    """A real-valued target shaped like `pred`, on the backend in pred's dtype."""
    target = ensure_array(target)
    if target.shape != pred.shape or target.dtype.kind not in "biuf":
        raise target_error(loss, f"of shape {tuple(pred.shape)} with real values", target)
    return asarray(target, pred.dtype)


def class_targets(loss, pred, target, ignore_index=None):
    """Class indices for scores `pred` (N, C): (indices (N,) safe to gather with, per-sample factor (N,) in
    pred's dtype).

    The factor is 1 for a valid class and 0 for `ignore_index` (whose index becomes 0). An index outside
    [0, C) raises ValueError when the target is a host array, where checking is a free host read. On a
    device target checking would stall the GPU on every step, so instead such a sample's factor is NaN
    (and its index 0): the loss and its gradient turn NaN rather than silently wrong.
    """
    n, c = pred.shape
    target = ensure_array(target)
    if target.shape != (n,) or target.dtype.kind not in "iu":
        raise target_error(loss, f"of integer class indices with shape ({n},)", target)
    if backend_of(target) == "cpu":
        kept = target if ignore_index is None else target[target != ignore_index]
        if kept.size and (kept.min() < 0 or kept.max() >= c):
            raise ValueError(f"{type(loss).__name__}: expected class indices in [0, {c - 1}]"
                             f"{'' if ignore_index is None else f' or ignore_index {ignore_index}'}, "
                             f"got values from {kept.min()} to {kept.max()}")
    t = asarray(target)
    valid = (t >= 0) & (t < c)
    factor = xp.where(valid, 1.0, float("nan"))
    if ignore_index is not None:
        ignored = t == ignore_index
        factor = xp.where(ignored, 0.0, factor)
        valid &= ~ignored
    return xp.where(valid, t, 0), factor.astype(pred.dtype)


def one_hot(t, c, dtype):
    """(N, C) rows with 1 at each sample's class index `t` and 0 elsewhere."""
    return (xp.arange(c) == t[:, None]).astype(dtype)


def class_weight(loss, weight, pred):
    """A per-class weight (C,) on the backend in pred's dtype, or None."""
    if weight is None:
        return None
    w = asarray(weight, pred.dtype)
    if w.shape != pred.shape[1:]:
        raise ValueError(f"{type(loss).__name__}: expected weight of shape {tuple(pred.shape[1:])} "
                         f"(one per class), got {tuple(w.shape)}")
    return w


def check_logits(loss, pred):
    """Raise unless `pred` is a batch of scores (N, C)."""
    if pred.ndim != 2:
        raise ValueError(f"{type(loss).__name__}: expected scores of shape (N, C), got shape {tuple(pred.shape)}")
