"""Conv2D: 2-D convolution (cross-correlation, as PyTorch's Conv2d) by im2col and one matrix product."""
from .. import init
from ..parameter import Parameter
from ._conv_util import check_window, conv_backward, conv_forward, padded, pair, unpadded
from .base import Layer, check_input


class _Conv(Layer):
    """Arguments, parameters and repr shared by Conv2D and ConvTranspose2D.

    `weight_shape(in_channels, out_channels, groups, kernel)` gives the layer's PyTorch weight shape."""

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                 weight_init, bias_init, weight_shape):
        super().__init__()
        name = type(self).__name__
        if not (isinstance(groups, int) and groups >= 1 and in_channels % groups == 0
                and out_channels % groups == 0):
            raise ValueError(f"{name}: in_channels ({in_channels}) and out_channels ({out_channels}) must both "
                             f"be divisible by groups ({groups})")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = pair(kernel_size, f"{name} kernel_size", 1)
        self.stride = pair(stride, f"{name} stride", 1)
        self.padding = pair(padding, f"{name} padding", 0)
        self.dilation = pair(dilation, f"{name} dilation", 1)
        self.weight = Parameter(init.get(weight_init)(weight_shape(in_channels, out_channels, groups,
                                                                   self.kernel_size)))
        self.bias = Parameter(init.get(bias_init)((out_channels,))) if bias else None

    def _add_bias(self, y):
        if self.bias is not None:
            y += self.bias.data[:, None, None]
        return y

    def _bias_grad(self, dy):
        if self.bias is not None:
            self.bias.accumulate(dy.sum(axis=(0, 2, 3)))

    def extra_repr(self):
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
             f"padding={self.padding}")
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        return s + f", bias={self.bias is not None}"


class Conv2D(_Conv):
    """y = W ⋆ x + b on NCHW input; weight (out, in/groups, kh, kw), bias (out,), as torch.nn.Conv2d.

    Forward: im2col and one matrix product per group for the whole batch, block by block
    of output rows (see _conv_util). Backward: the weight gradient by a second product
    with the columns rebuilt from the saved padded input, the input gradient (skipped
    when `needs_input_grad` is False) by a third product and col2im. Outputs and input
    gradients are NCHW arrays stored batch-last, (C, H, W, N) in memory, which the next
    convolution reads without a copy (see xpnet/backend/cpu.py).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, weight_init="kaiming_uniform", bias_init="zeros"):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         weight_init, bias_init, lambda i, o, g, k: (o, i // g, *k))
        self._xpad = None

    def forward(self, x):
        check_input(self, x, 4, self.in_channels)
        size = check_window(self, x.shape, self.kernel_size, self.stride, self.padding, self.dilation)
        self._xpad = padded(x, self.padding)
        return self._add_bias(conv_forward(self._xpad, self.weight.data, self.stride, self.dilation, self.groups,
                                           size))

    def backward(self, dy):
        xpad, self._xpad = self._xpad, None  # free the saved input once used, as PyTorch frees saved tensors
        self._bias_grad(dy)
        dw, dx = conv_backward(dy, self.weight.data, self.stride, self.dilation, self.groups, xpad,
                               xpad.shape if self.needs_input_grad else None)
        self.weight.accumulate(dw)
        return None if dx is None else unpadded(dx, self.padding)

    def _moved(self, backend_name):
        self._xpad = None
