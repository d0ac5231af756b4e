"""Adagrad: per-element step sizes shrinking with the sum of squared gradients."""
from ..backend import xp
from .optimizer import Optimizer, buffer, check_nonnegative, next_step, with_weight_decay


class Adagrad(Optimizer):
    """PyTorch's Adagrad: sum += g^2; p -= clr * g / (sqrt(sum) + eps), clr = lr / (1 + (t - 1) * lr_decay)."""

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10, *,
                 maximize=False):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, eps=eps,
                                      maximize=maximize))

    def _check_group(self, group):
        check_nonnegative(self, group, "lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps")

    @staticmethod
    def _update(p, g, state, group):
        t = next_step(state)
        total = buffer(state, "sum", p, group["initial_accumulator_value"])
        g = with_weight_decay(p.data, g, group["weight_decay"])
        clr = group["lr"] / (1 + (t - 1) * group["lr_decay"])
        total += g * g
        std = xp.sqrt(total)
        std += group["eps"]
        xp.divide(g, std, out=std)
        std *= clr
        p.data -= std
