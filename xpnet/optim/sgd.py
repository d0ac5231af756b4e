"""Stochastic gradient descent with optional momentum, dampening, Nesterov and weight decay."""
from .optimizer import Optimizer, check_nonnegative, with_weight_decay


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
        g = with_weight_decay(p, g, group["weight_decay"])
        momentum = group["momentum"]
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = g.copy()
            else:
                buf *= momentum
                buf += (1 - group["dampening"]) * g
            g = g + momentum * buf if group["nesterov"] else buf
        p.data -= group["lr"] * g
