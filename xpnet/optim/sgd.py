"""Stochastic gradient descent with optional momentum, dampening, Nesterov and weight decay."""
from ..backend.rules import elementwise
from .optimizer import Optimizer, buffer, check_nonnegative, with_weight_decay


@elementwise("sgd", "T g, T lr, T weight_decay", "T p", """
    p -= (weight_decay != 0 ? g + weight_decay * p : g) * lr;
    """, kernel_arguments=lambda p, g, lr, weight_decay: (g, lr, weight_decay, p))
def sgd_update(p, g, lr, weight_decay):
    """p -= lr * (g + weight_decay * p), in place."""
    step = with_weight_decay(p, g, weight_decay) * lr
    p -= step


def _momentum_kernel_arguments(p, g, buf, lr, momentum, dampening, weight_decay, nesterov, first):
    return g, lr, momentum, 1 - dampening, weight_decay, nesterov, first, p, buf


@elementwise("sgd_momentum", "T g, T lr, T momentum, T keep, T weight_decay, bool nesterov, bool first", "T p, T buf",
             """
    const T d = weight_decay != 0 ? g + weight_decay * p : g;
    buf = first ? d : buf * momentum + keep * d;
    p -= (nesterov ? d + momentum * buf : buf) * lr;
    """, kernel_arguments=_momentum_kernel_arguments)
def sgd_momentum_update(p, g, buf, lr, momentum, dampening, weight_decay, nesterov, first):
    """With d = g + weight_decay * p: buf = d on the first step, else momentum * buf + (1 - dampening) * d;
    p -= lr * (d + momentum * buf if nesterov else buf). In place on p and buf."""
    d = with_weight_decay(p, g, weight_decay)
    if first:
        buf[...] = d
    else:
        buf *= momentum
        buf += (1 - dampening) * d
    step = d + momentum * buf if nesterov else buf.copy()
    step *= lr
    p -= step


class SGD(Optimizer):
    """PyTorch's SGD: buf = momentum * buf + (1 - dampening) * g; p -= lr * (g + momentum * buf if nesterov else buf).

    The momentum buffer starts as a copy of the first gradient, as in PyTorch.
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=maximize))

    def _check_group(self, group):
        check_nonnegative(self, group, "lr", "momentum", "weight_decay")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("SGD: Nesterov momentum requires a momentum > 0 and zero dampening")

    @staticmethod
    def _update(p, g, state, group):
        lr, momentum, weight_decay = group["lr"], group["momentum"], group["weight_decay"]
        if momentum == 0:
            sgd_update(p.data, g, lr, weight_decay)
            return
        first = state.get("momentum_buffer") is None
        buf = buffer(state, "momentum_buffer", p)
        sgd_momentum_update(p.data, g, buf, lr, momentum, group["dampening"], weight_decay, group["nesterov"], first)
