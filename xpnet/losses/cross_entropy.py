"""`SoftmaxCrossEntropy`: log-softmax and negative log-likelihood in one stable step (torch.nn.CrossEntropyLoss)."""
from ..backend import asarray, xp
from .base import Loss, check_logits, class_targets, class_weight, host_view, target_error


class SoftmaxCrossEntropy(Loss):
    """Cross entropy of logits (N, C) against class indices (N,) or class probabilities (N, C).

    Both target kinds become one target matrix Q (label smoothing mixes in the
    uniform distribution, `weight` scales each class, ignored samples get a zero
    row), so the per-sample loss is -sum_c Q_c log p_c and its gradient is
    p * sum_c Q_c - Q. The mean divides by the summed weight of the target classes
    for index targets and by N for probabilities, as PyTorch does.
    """

    def __init__(self, weight=None, *, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        super().__init__(reduction)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"SoftmaxCrossEntropy: label_smoothing must be in [0, 1], got {label_smoothing}")
        self.weight, self.ignore_index, self.label_smoothing = weight, ignore_index, label_smoothing

    def _unreduced(self, logits, target):
        check_logits(self, logits)
        n, c = logits.shape
        target = host_view(target)
        w = class_weight(self, self.weight, logits)
        if target.shape == logits.shape:
            if target.dtype.kind != "f":
                raise target_error(self, f"class probabilities of a floating dtype with shape {(n, c)}", target)
            q, factor, denom = asarray(target, logits.dtype), None, n
        else:
            q, factor = class_targets(self, logits, target, self.ignore_index)
            denom = (factor if w is None else factor * (q @ w)).sum()
        if self.label_smoothing:
            q = (1 - self.label_smoothing) * q + self.label_smoothing / c
        if w is not None:
            q = q * w
        if factor is not None:
            q = q * factor[:, None]
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_p = shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
        self._p, self._q = xp.exp(log_p), q
        return -(q * log_p).sum(axis=1), denom

    def _grad(self, g):
        return g[:, None] * (self._p * self._q.sum(axis=1, keepdims=True) - self._q)
