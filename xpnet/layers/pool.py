"""Pooling over NCHW windows: MaxPool2D, AvgPool2D (PyTorch defaults) and GlobalAvgPool2D.

`max_pool2d_reference` is the whole of max-pooling in one line: the windows are a
strided view of the padded input (`layout.windows`), and the output their maxima.
MaxPool2D computes the same with `ops.max_pool`, whose fastest form differs per
backend: elementwise passes over strided views with NumPy, one kernel on the GPU.
AvgPool2D sums its windows by one addition per kernel offset. Both backward passes
write window gradients through `layout.window_grad`.
"""
from ..backend import layout, ops, xp
from .base import Layer, check_input
from .window import check_window, pair

_UNIT = (1, 1)


def max_pool2d_reference(x, kernel_size, stride, padding=(0, 0)):
    """The maximum of each `kernel_size` window of `x` (N, C, H, W), `stride` apart, padding counting as -inf:
    torch.nn.functional.max_pool2d with pairs of ints."""
    return layout.windows(layout.pad(x, padding, float("-inf")), kernel_size, stride, _UNIT).max(axis=(2, 3))


class _Pool2D(Layer):
    """Window arguments and input checks, shared by Max and Avg pooling."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        name = type(self).__name__
        self.kernel_size = pair(kernel_size, f"{name} kernel_size", 1)
        self.stride = self.kernel_size if stride is None else pair(stride, f"{name} stride", 1)
        self.padding = pair(padding, f"{name} padding", 0)
        if any(2 * p > k for p, k in zip(self.padding, self.kernel_size)):
            raise ValueError(f"{name}: padding {self.padding} must be at most half of kernel_size {self.kernel_size}")
        self._x_shape = None

    def _check(self, x):
        check_input(self, x, 4)
        check_window(self, x.shape, self.kernel_size, self.stride, self.padding)
        self._x_shape = x.shape

    def _offsets(self):
        kh, kw = self.kernel_size
        return [(i, j) for i in range(kh) for j in range(kw)]

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2D(_Pool2D):
    """Maximum over each window, as torch.nn.MaxPool2d (padding counts as -inf, so it never wins).

    Backward routes each window's gradient to its first maximum in row-major order
    (ties go to the first, as PyTorch); NaNs propagate.
    """

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__(kernel_size, stride, padding)
        self._saved = None

    def forward(self, x):
        self._check(x)
        y, self._saved = ops.max_pool(x, self.kernel_size, self.stride, self.padding)
        return y

    def backward(self, dy):
        saved, self._saved = self._saved, None
        return ops.max_pool_backward(dy, saved)

    def _moved(self, backend_name):
        self._saved = None

    def export_onnx(self, graph, x):
        """ONNX MaxPool, whose padding never wins either."""
        return graph.op("MaxPool", x, kernel_shape=self.kernel_size, strides=self.stride, pads=self.padding * 2)


class AvgPool2D(_Pool2D):
    """Mean over each window, as torch.nn.AvgPool2d with count_include_pad=True, ceil_mode=False:
    zero padding counts in the divisor kh*kw."""

    def forward(self, x):
        self._check(x)
        win = layout.windows(layout.pad(x, self.padding), self.kernel_size, self.stride, _UNIT)
        y = layout.copy(win[:, :, 0, 0])
        for i, j in self._offsets()[1:]:
            y += win[:, :, i, j]
        y *= 1.0 / len(self._offsets())
        return y

    def backward(self, dy):
        share = dy * (1.0 / len(self._offsets()))

        def fill(g):
            g[...] = share[:, :, None, None]
        return layout.window_grad(fill, self._x_shape, self.kernel_size, self.stride, self.padding, dy.dtype)

    def export_onnx(self, graph, x):
        """ONNX AveragePool counting the zero padding in the divisor (count_include_pad=1)."""
        return graph.op("AveragePool", x, kernel_shape=self.kernel_size, strides=self.stride,
                        pads=self.padding * 2, count_include_pad=1)


class GlobalAvgPool2D(Layer):
    """Mean over H and W: (N, C, H, W) -> (N, C).

    PyTorch's AdaptiveAvgPool2d(1) gives (N, C, 1, 1); this layer's output equals that flattened.
    """

    def __init__(self):
        super().__init__()
        self._x_shape = None

    def forward(self, x):
        check_input(self, x, 4)
        self._x_shape = x.shape
        return x.mean(axis=(2, 3))

    def backward(self, dy):
        n, c, h, w = self._x_shape
        dx = xp.empty(self._x_shape, dtype=dy.dtype)
        dx[...] = (dy * (1.0 / (h * w)))[:, :, None, None]
        return dx

    def export_onnx(self, graph, x):
        """ONNX GlobalAveragePool gives (N, C, 1, 1); Flatten makes it (N, C)."""
        return graph.op("Flatten", graph.op("GlobalAveragePool", x), axis=1)
