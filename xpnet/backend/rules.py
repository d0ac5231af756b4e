"""Elementwise update rules written twice, side by side: the xp arithmetic and its fused CUDA body.

An optimizer's update or a layer's per-element pass is written once as plain xp code (the
reference, and the form NumPy runs) and once as the body of one CuPy ElementwiseKernel, which
does in one launch what the xp code does in several. `@elementwise(...)` on the xp function
registers both under one name; calling the result runs `ops.run_elementwise(rule, *args)`, which
the CPU backend answers with the xp arithmetic (split across cores for large arrays) and the GPU
backend with the kernel it compiles and caches from the body. tests/cuda runs every registered
body on the host against its arithmetic and compiles it with NVRTC.

The CUDA body computes what the arithmetic does, in the same order, so the two round alike.
"""
from .proxy import ops

RULES = {}  # name -> ElementwiseRule, in registration order


class ElementwiseRule:
    """One elementwise computation in both forms.

    `arithmetic(*args)` works in place on array arguments of one shape (per-channel factors may
    broadcast), so any piece along one axis can be computed on its own. The kernel takes
    `in_params` and `out_params` (CuPy's parameter lists); `kernel_arguments(*args)` maps the
    arithmetic's arguments onto them (scalars such as 1 - beta1 precomputed on the host, as NumPy
    would cast them), or the arguments pass unchanged when it is None."""

    def __init__(self, name, in_params, out_params, body, arithmetic, kernel_arguments=None):
        self.name, self.in_params, self.out_params, self.body = name, in_params, out_params, body
        self.arithmetic, self.kernel_arguments = arithmetic, kernel_arguments
        self.__doc__, self.__name__ = arithmetic.__doc__, arithmetic.__name__

    @property
    def kernel_name(self):
        return f"xpnet_{self.name}"

    def __call__(self, *args):
        ops.run_elementwise(self, *args)

    def __repr__(self):
        return f"<elementwise rule {self.name}>"


def elementwise(name, in_params, out_params, body, kernel_arguments=None):
    """Decorator: register the decorated xp arithmetic with its CUDA `body` as the rule `name`."""
    def register(arithmetic):
        if name in RULES:
            raise ValueError(f"two elementwise rules are named {name!r}")
        rule = RULES[name] = ElementwiseRule(name, in_params, out_params, body, arithmetic, kernel_arguments)
        return rule
    return register
