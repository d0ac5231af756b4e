"""Adam and AdamW: bias-corrected first and second moment estimates."""
from ..backend import xp
from .optimizer import Optimizer, buffer, check_betas, check_nonnegative, lerp_, next_step, with_weight_decay


class MomentOptimizer(Optimizer):
    """The base of Adam and RAdam: their hyper-parameter checks and the moment estimates they share."""

    def _check_group(self, group):
        check_nonnegative(self, group, "lr", "eps", "weight_decay")
        check_betas(self, group)


def moments(p, g, state, group):
    """Weight decay (coupled or decoupled) and the running moments of Adam and RAdam.

    Returns the step count t and the updated first and second moments m, v."""
    t = next_step(state)
    lr, wd, (beta1, beta2) = group["lr"], group["weight_decay"], group["betas"]
    if group["decoupled_weight_decay"]:
        p.data *= 1 - lr * wd
    else:
        g = with_weight_decay(p, g, wd)
    exp_avg, exp_avg_sq = buffer(state, "exp_avg", p), buffer(state, "exp_avg_sq", p)
    lerp_(exp_avg, g, 1 - beta1)
    exp_avg_sq *= beta2
    exp_avg_sq += (1 - beta2) * (g * g)
    return t, exp_avg, exp_avg_sq


class Adam(MomentOptimizer):
    """PyTorch's Adam: p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).

    `amsgrad` normalises by the running maximum of v; `decoupled_weight_decay` (AdamW) shrinks p by
    (1 - lr * weight_decay) instead of adding weight_decay * p to the gradient.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 maximize=False, decoupled_weight_decay=False):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize, decoupled_weight_decay=decoupled_weight_decay))

    @staticmethod
    def _update(p, g, state, group):
        t, exp_avg, exp_avg_sq = moments(p, g, state, group)
        lr, (beta1, beta2) = group["lr"], group["betas"]
        if group["amsgrad"]:
            max_sq = buffer(state, "max_exp_avg_sq", p)
            exp_avg_sq = xp.maximum(max_sq, exp_avg_sq, out=max_sq)
        denom = xp.sqrt(exp_avg_sq)
        denom /= (1 - beta2 ** t) ** 0.5
        denom += group["eps"]
        xp.divide(exp_avg, denom, out=denom)
        denom *= lr / (1 - beta1 ** t)
        p.data -= denom


class AdamW(Adam):
    """Adam with decoupled weight decay (default 1e-2): p *= 1 - lr * weight_decay before the Adam step."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)
