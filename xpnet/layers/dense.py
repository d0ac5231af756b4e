"""`Dense` (PyTorch's `Linear`): y = x @ W.T + b, with W of shape (out_features, in_features).

Its output and input gradient are stored batch-last, like a convolution's (backend/layout.py): it
computes yᵀ = W · xᵀ, whose (out_features, N) result is contiguous, so every product reads W as it
lies, batch norm reads the output without a copy, and a gradient that goes back through Flatten
reaches the convolutions in their own layout. BLAS takes xᵀ in either memory order without a copy.
"""
from .. import init
from ..backend import layout
from ..parameter import Parameter
from .base import Layer, check_input


class Dense(Layer):
    """A fully connected layer on (N, in_features) inputs. Weight and bias start as PyTorch's do, from
    U(-1/sqrt(in_features), 1/sqrt(in_features)); `weight_init` / `bias_init` name another scheme (xpnet.init)."""

    def __init__(self, in_features, out_features, bias=True, *, weight_init="fan_in_uniform",
                 bias_init="fan_in_uniform"):
        super().__init__()
        if in_features < 1 or out_features < 1:
            raise ValueError(f"Dense needs positive sizes, got in_features={in_features}, "
                             f"out_features={out_features}")
        self.in_features, self.out_features = in_features, out_features
        shape = (out_features, in_features)
        self.weight = Parameter(init.get(weight_init)(shape))
        self.bias = Parameter(init.get_bias(bias_init, shape)((out_features,))) if bias else None

    def forward(self, x):
        check_input(self, x, 2, self.in_features, what="features")
        self._x = x
        yt = self.weight.data @ x.T
        if self.bias is not None:
            yt += self.bias.data[:, None]
        return layout.batch_first(yt)

    def backward(self, dy):
        self.weight.accumulate(dy.T @ self._x)
        if self.bias is not None:
            self.bias.accumulate(dy.sum(axis=0))
        return layout.batch_first(self.weight.data.T @ dy.T) if self.needs_input_grad else None

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"

    def export_onnx(self, graph, x):
        """ONNX Gemm: x · Wᵀ + b (transB=1)."""
        return graph.op("Gemm", x, graph.param("weight", self.weight), graph.param("bias", self.bias), transB=1)
