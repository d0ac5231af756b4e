"""ConvTranspose2D: the adjoint of Conv2D (as PyTorch's ConvTranspose2d).

Its forward pass is a convolution's input gradient and its backward pass a
convolution's forward pass, so it reuses Conv2D's passes (conv.py).
"""
from ..backend import layout
from .base import check_input
from .conv import _Conv, conv_backward, conv_forward
from .window import pair


class ConvTranspose2D(_Conv):
    """Transposed convolution on NCHW input; weight (in, out/groups, kh, kw), bias (out,).

    Output size: (H - 1)*stride - 2*padding + dilation*(kernel - 1) + output_padding + 1
    (output_padding < max(stride, dilation) picks among the sizes a strided Conv2D maps to H).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, *, weight_init="fan_in_uniform",
                 bias_init="fan_in_uniform"):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         weight_init, bias_init, lambda i, o, g, k: (i, o // g, *k))
        self.output_padding = pair(output_padding, "ConvTranspose2D output_padding", 0)
        if any(op >= max(s, d) for op, s, d in zip(self.output_padding, self.stride, self.dilation)):
            raise ValueError(f"ConvTranspose2D: output_padding {self.output_padding} must be smaller than stride "
                             f"{self.stride} or dilation {self.dilation}")
        self._x = None

    def output_shape(self, shape):
        """The (N, out_channels, H_out, W_out) this layer makes from input `shape`; ValueError if not positive."""
        size = tuple((n - 1) * s - 2 * p + d * (k - 1) + op + 1 for n, s, p, d, k, op in zip(
            shape[2:], self.stride, self.padding, self.dilation, self.kernel_size, self.output_padding))
        if min(size) < 1:
            raise ValueError(f"ConvTranspose2D: input shape {tuple(shape)} gives a non-positive output size {size} "
                             f"(padding {self.padding} too large)")
        return (shape[0], self.out_channels, *size)

    def forward(self, x):
        check_input(self, x, 4, self.in_channels)
        self._x = x
        _, y = conv_backward(x, self.weight.data, self.stride, self.dilation, self.groups,
                             padded_shape=layout.padded_shape(self.output_shape(x.shape), self.padding))
        return self._add_bias(layout.unpadded(y, self.padding))

    def backward(self, dy):
        x, self._x = self._x, None
        self._bias_grad(dy)
        dypad = layout.padded(dy, self.padding)
        # With output_padding >= stride (allowed when dilation is larger) dy has more windows than x has
        # positions: both passes below read only the first x.shape[2:] of them.
        dw, _ = conv_backward(x, self.weight.data, self.stride, self.dilation, self.groups, xpad=dypad)
        self.weight.accumulate(dw)
        if not self.needs_input_grad:
            return None
        return conv_forward(dypad, self.weight.data, self.stride, self.dilation, self.groups, x.shape[2:])

    def extra_repr(self):
        s = super().extra_repr()
        return s if self.output_padding == (0, 0) else s + f", output_padding={self.output_padding}"

    def _moved(self, backend_name):
        self._x = None

    def export_onnx(self, graph, x):
        """ONNX ConvTranspose: the same weight layout (in, out/groups, kh, kw) and output size."""
        return graph.op("ConvTranspose", x, graph.param("weight", self.weight), graph.param("bias", self.bias),
                        kernel_shape=self.kernel_size, strides=self.stride, pads=self.padding * 2,
                        dilations=self.dilation, group=self.groups, output_padding=self.output_padding)
