"""Adam and AdamW: bias-corrected first and second moment estimates."""
from ..backend import xp
from ..backend.rules import elementwise
from .optimizer import Optimizer, buffer, check_betas, check_nonnegative, lerp_, next_step, with_weight_decay


class MomentOptimizer(Optimizer):
    """The base of Adam and RAdam: the hyper-parameter checks they share (lr, eps, weight_decay, betas).
    Their moment estimates are this module's functions (`moments`, `moments_arithmetic`), not methods."""

    def _check_group(self, group):
        check_nonnegative(self, group, "lr", "eps", "weight_decay")
        check_betas(self, group)


def moments_arithmetic(p, g, m, v, lr, beta1, beta2, weight_decay, decoupled):
    """Weight decay, decoupled (p *= 1 - lr * weight_decay) or folded into g, then the running moments
    m += (1 - beta1) (g - m) and v = beta2 v + (1 - beta2) g²; in place on p, m and v."""
    if decoupled:
        p *= 1 - lr * weight_decay
    else:
        g = with_weight_decay(p, g, weight_decay)
    lerp_(m, g, 1 - beta1)
    v *= beta2
    v += (1 - beta2) * (g * g)


def moments(p, g, state, group):
    """The step count t and the first and second moments m, v of parameter `p`, updated by `g`."""
    t = next_step(state)
    m, v = buffer(state, "exp_avg", p), buffer(state, "exp_avg_sq", p)
    moments_arithmetic(p.data, g, m, v, group["lr"], *group["betas"], group["weight_decay"],
                       group["decoupled_weight_decay"])
    return t, m, v


def _adam_kernel_arguments(p, g, m, v, vmax, lr, beta1, beta2, weight_decay, decoupled, eps, step_size,
                           root_correction2):
    return (g, 1 - lr * weight_decay, weight_decay, decoupled, 1 - beta1, beta2, 1 - beta2, vmax is not None, eps,
            step_size, root_correction2, p, m, v, v if vmax is None else vmax)


# `vmax` (amsgrad's running maximum of v) is only read and written when `amsgrad`; otherwise any array.
@elementwise("adam", "T g, T shrink, T weight_decay, bool decoupled, T keep1, T beta2, T keep2, bool amsgrad, T eps, "
             "T step_size, T root_correction2", "T p, T m, T v, raw T vmax", """
    T d = g;
    if (decoupled) p *= shrink;
    else if (weight_decay != 0) d = g + weight_decay * p;
    m += (d - m) * keep1;
    v = v * beta2 + keep2 * (d * d);
    T s = v;
    if (amsgrad) {
        const T old = vmax[i];
        vmax[i] = isnan(old) || old >= v ? old : v;
        s = vmax[i];
    }
    p -= m / (sqrt(s) / root_correction2 + eps) * step_size;
    """, kernel_arguments=_adam_kernel_arguments)
def adam_update(p, g, m, v, vmax, lr, beta1, beta2, weight_decay, decoupled, eps, step_size, root_correction2):
    """The moments (`moments_arithmetic`), then p -= step_size * m / (sqrt(v) / root_correction2 + eps), with the
    running maximum `vmax` of v in place of v when it is given (amsgrad); in place."""
    moments_arithmetic(p, g, m, v, lr, beta1, beta2, weight_decay, decoupled)
    if vmax is not None:
        v = xp.maximum(vmax, v, out=vmax)
    denom = xp.sqrt(v)
    denom /= root_correction2
    denom += eps
    xp.divide(m, denom, out=denom)
    denom *= step_size
    p -= denom


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
        t = next_step(state)
        lr, (beta1, beta2) = group["lr"], group["betas"]
        m, v = buffer(state, "exp_avg", p), buffer(state, "exp_avg_sq", p)
        vmax = buffer(state, "max_exp_avg_sq", p) if group["amsgrad"] else None
        adam_update(p.data, g, m, v, vmax, lr, beta1, beta2, group["weight_decay"], group["decoupled_weight_decay"],
                    group["eps"], lr / (1 - beta1 ** t), (1 - beta2 ** t) ** 0.5)


class AdamW(Adam):
    """Adam with decoupled weight decay (default 1e-2): p *= 1 - lr * weight_decay before the Adam step."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)
