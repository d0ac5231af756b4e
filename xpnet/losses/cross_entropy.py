"""`SoftmaxCrossEntropy`: log-softmax and negative log-likelihood in one stable step (torch.nn.CrossEntropyLoss)."""
from ..backend import asarray, xp
from .base import Loss, check_logits, class_targets, class_weight, ensure_array, one_hot, target_error


class SoftmaxCrossEntropy(Loss):
    """Cross entropy of logits (N, C) against class indices (N,) or class probabilities (N, C).

    With p = softmax(logits), a class index t gives the per-sample loss -w_t log p_t and the
    gradient w_t (p - onehot(t)): the log-probability is gathered at the target, no (N, C)
    target matrix is made. Probabilities, or label smoothing (which mixes in the uniform
    distribution), give a target matrix Q instead: the loss is -sum_c Q_c log p_c and its
    gradient p * sum_c Q_c - Q, with `weight` scaling each class and ignored samples a zero
    row. The mean divides by the summed weight of the target classes for index targets and
    by N for probabilities, as PyTorch does.
    """

    def __init__(self, weight=None, *, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        super().__init__(reduction)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"SoftmaxCrossEntropy: label_smoothing must be in [0, 1], got {label_smoothing}")
        self.weight, self.ignore_index, self.label_smoothing = weight, ignore_index, label_smoothing

    def _unreduced(self, logits, target):
        check_logits(self, logits)
        target = ensure_array(target)
        w = class_weight(self, self.weight, logits)
        shifted = logits - logits.max(axis=1, keepdims=True)
        e = xp.exp(shifted)
        total = e.sum(axis=1)
        if target.shape != logits.shape and not self.label_smoothing:
            t, factor = class_targets(self, logits, target, self.ignore_index)
            if w is not None:
                factor = factor * w[t]
            self._e, self._total, self._t, self._factor, self._q = e, total, t, factor, None
            return factor * (xp.log(total) - shifted[xp.arange(len(t)), t]), factor.sum()
        q, factor, denom = self._target_matrix(logits, target, w)
        log_p = shifted - xp.log(total)[:, None]
        e /= total[:, None]
        self._e, self._q = e, q
        return -(q * log_p).sum(axis=1), denom

    def _target_matrix(self, logits, target, w):
        """(Q (N, C), per-sample factor or None, denominator of the mean) for probabilities or label smoothing."""
        n, c = logits.shape
        if target.shape == logits.shape:
            if target.dtype.kind != "f":
                raise target_error(self, f"class probabilities of a floating dtype with shape {(n, c)}", target)
            q, factor, denom = asarray(target, logits.dtype), None, n
        else:
            t, factor = class_targets(self, logits, target, self.ignore_index)
            q = one_hot(t, c, logits.dtype)
            denom = (factor if w is None else factor * w[t]).sum()
        q = (1 - self.label_smoothing) * q + self.label_smoothing / c
        if w is not None:
            q = q * w
        if factor is not None:
            q = q * factor[:, None]
        return q, factor, denom

    def _grad(self, g):
        if self._q is not None:
            return g[:, None] * (self._e * self._q.sum(axis=1, keepdims=True) - self._q)
        scale = g * self._factor
        grad = self._e * (scale / self._total)[:, None]
        grad[xp.arange(len(self._t)), self._t] -= scale
        return grad
