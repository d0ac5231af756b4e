"""RAdam: Adam whose adaptive step is switched on, and rectified, once its variance estimate is reliable."""
from ..backend import xp
from .adam import MomentOptimizer, moments


class RAdam(MomentOptimizer):
    """PyTorch's RAdam: plain momentum steps while rho_t <= 5, then rectified Adam steps.

    rho_inf = 2 / (1 - b2) - 1, rho_t = rho_inf - 2 t b2^t / (1 - b2^t); the rectification factor is
    sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t)).
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, decoupled_weight_decay=False,
                 *, maximize=False):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      decoupled_weight_decay=decoupled_weight_decay, maximize=maximize))

    @staticmethod
    def _update(p, g, state, group):
        t, exp_avg, exp_avg_sq = moments(p, g, state, group)
        lr, (beta1, beta2) = group["lr"], group["betas"]
        bias_correction1, bias_correction2 = 1 - beta1 ** t, 1 - beta2 ** t
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * t * beta2 ** t / bias_correction2
        if rho_t > 5.0:
            rect = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
            step = xp.sqrt(exp_avg_sq)
            step += group["eps"]
            xp.divide(exp_avg, step, out=step)
            step *= lr * rect * bias_correction2 ** 0.5 / bias_correction1
        else:
            step = exp_avg * (lr / bias_correction1)
        p.data -= step
