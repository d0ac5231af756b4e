"""RMSprop: divide the gradient by a running root-mean-square of recent gradients."""
from ..backend import xp
from .optimizer import Optimizer, buffer, check_nonnegative, lerp_, next_step, with_weight_decay


class RMSprop(Optimizer):
    """PyTorch's RMSprop: v = alpha v + (1 - alpha) g^2; p -= lr * g / (sqrt(v - mean_g^2 if centered) + eps).

    With momentum the step goes through a buffer: buf = momentum * buf + g / avg; p -= lr * buf.
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False, *,
                 maximize=False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      centered=centered, maximize=maximize))

    def _check_group(self, group):
        check_nonnegative(self, group, "lr", "alpha", "eps", "weight_decay", "momentum")

    @staticmethod
    def _update(p, g, state, group):
        next_step(state)
        alpha = group["alpha"]
        g = with_weight_decay(p, g, group["weight_decay"])
        square_avg = buffer(state, "square_avg", p)
        square_avg *= alpha
        square_avg += (1 - alpha) * (g * g)
        if group["centered"]:
            grad_avg = buffer(state, "grad_avg", p)
            lerp_(grad_avg, g, 1 - alpha)
            avg = square_avg - grad_avg * grad_avg
            xp.sqrt(avg, out=avg)
        else:
            avg = xp.sqrt(square_avg)
        avg += group["eps"]
        if group["momentum"] > 0:
            buf = buffer(state, "momentum_buffer", p)
            buf *= group["momentum"]
            buf += g / avg
            p.data -= group["lr"] * buf
        else:
            xp.divide(g, avg, out=avg)
            avg *= group["lr"]
            p.data -= avg
