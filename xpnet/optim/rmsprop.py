"""RMSprop: divide the gradient by a running root-mean-square of recent gradients."""
from ..backend import xp
from ..backend.rules import elementwise
from .optimizer import Optimizer, buffer, check_nonnegative, lerp_, next_step, with_weight_decay


def _rmsprop_kernel_arguments(p, g, square_avg, grad_avg, buf, lr, alpha, eps, weight_decay, momentum):
    return (g, lr, alpha, 1 - alpha, eps, weight_decay, momentum, grad_avg is not None, buf is not None, p, square_avg,
            square_avg if grad_avg is None else grad_avg, square_avg if buf is None else buf)


# `grad_avg` and `buf` are only read and written when `centered` and `use_momentum`; otherwise any arrays.
@elementwise("rmsprop", "T g, T lr, T alpha, T keep, T eps, T weight_decay, T momentum, bool centered, "
             "bool use_momentum", "T p, T square_avg, raw T grad_avg, raw T buf", """
    const T d = weight_decay != 0 ? g + weight_decay * p : g;
    square_avg = square_avg * alpha + keep * (d * d);
    T avg;
    if (centered) {
        grad_avg[i] += (d - grad_avg[i]) * keep;
        avg = sqrt(square_avg - grad_avg[i] * grad_avg[i]);
    } else {
        avg = sqrt(square_avg);
    }
    avg += eps;
    if (use_momentum) {
        buf[i] = buf[i] * momentum + d / avg;
        p -= lr * buf[i];
    } else {
        p -= d / avg * lr;
    }
    """, kernel_arguments=_rmsprop_kernel_arguments)
def rmsprop_update(p, g, square_avg, grad_avg, buf, lr, alpha, eps, weight_decay, momentum):
    """With d = g + weight_decay * p: square_avg = alpha square_avg + (1 - alpha) d², and, when given, grad_avg
    += (1 - alpha) (d - grad_avg); avg = sqrt(square_avg - grad_avg²) + eps; then p -= lr * d / avg, or through
    the momentum buffer `buf` = momentum buf + d / avg when given. In place."""
    d = with_weight_decay(p, g, weight_decay)
    square_avg *= alpha
    square_avg += (1 - alpha) * (d * d)
    if grad_avg is not None:
        lerp_(grad_avg, d, 1 - alpha)
        avg = square_avg - grad_avg * grad_avg
        xp.sqrt(avg, out=avg)
    else:
        avg = xp.sqrt(square_avg)
    avg += eps
    if buf is not None:
        buf *= momentum
        buf += d / avg
        p -= lr * buf
    else:
        xp.divide(d, avg, out=avg)
        avg *= lr
        p -= avg


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
        square_avg = buffer(state, "square_avg", p)
        grad_avg = buffer(state, "grad_avg", p) if group["centered"] else None
        buf = buffer(state, "momentum_buffer", p) if group["momentum"] > 0 else None
        rmsprop_update(p.data, g, square_avg, grad_avg, buf, group["lr"], group["alpha"], group["eps"],
                       group["weight_decay"], group["momentum"])
