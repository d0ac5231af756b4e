"""Pooling over NCHW windows: MaxPool2D, AvgPool2D (PyTorch defaults) and GlobalAvgPool2D.

Windows are strided views of the (padded) input (`layout.windows`), reduced by one
elementwise operation per kernel offset: kh*kw passes over output-sized arrays,
much faster in NumPy than a reduction over the window axes. Backward writes the
window gradients straight into a view of dx when windows do not overlap (e.g.
stride == kernel, as in LeNet), and otherwise sums them back with `ops.col2im`.
"""
from ..backend import layout, ops, xp
from .base import Layer, check_input
from .window import check_window, pair

_UNIT = (1, 1)


class _Pool2D(Layer):
    """Window arguments, input checks and the scatter of window gradients, shared by Max and Avg pooling."""

    pad_value = 0.0

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        name = type(self).__name__
        self.kernel_size = pair(kernel_size, f"{name} kernel_size", 1)
        self.stride = self.kernel_size if stride is None else pair(stride, f"{name} stride", 1)
        self.padding = pair(padding, f"{name} padding", 0)
        if any(2 * p > k for p, k in zip(self.padding, self.kernel_size)):
            raise ValueError(f"{name}: padding {self.padding} must be at most half of kernel_size {self.kernel_size}")
        self._x_shape = None

    def _windows(self, x):
        """The (N, C, kh, kw, OH, OW) windows of `x`, padded with `pad_value`."""
        check_input(self, x, 4)
        check_window(self, x.shape, self.kernel_size, self.stride, self.padding)
        self._x_shape = x.shape
        return layout.windows(layout.pad(x, self.padding, self.pad_value), self.kernel_size, self.stride, _UNIT)

    def _input_grad(self, fill, dtype):
        """dx from `fill(win)`, which writes every window gradient (N, C, kh, kw, OH, OW) into `win`."""
        disjoint = self.padding == (0, 0) and all(s >= k for s, k in zip(self.stride, self.kernel_size))
        if disjoint:  # each input element lies in at most one window: write into dx directly
            h, w = self._x_shape[2:]
            tiled = h % self.stride[0] == 0 and w % self.stride[1] == 0 and self.stride == self.kernel_size
            dx = (layout.empty if tiled else layout.zeros)(self._x_shape, dtype)  # fill writes every element
            fill(layout.windows(dx, self.kernel_size, self.stride, _UNIT))
            return dx
        n, c = self._x_shape[:2]
        oh, ow = check_window(self, self._x_shape, self.kernel_size, self.stride, self.padding)
        col = layout.empty((n, c, *self.kernel_size, oh, ow), dtype)
        fill(col)
        dx = layout.zeros(layout.padded_shape(self._x_shape, self.padding), dtype)
        return layout.unpadded(ops.col2im(col, dx, self.stride, _UNIT), self.padding)

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

    pad_value = float("-inf")

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__(kernel_size, stride, padding)
        self._win = self._y = None

    def forward(self, x):
        win = self._windows(x)
        y = layout.copy(win[:, :, 0, 0])
        for i, j in self._offsets()[1:]:
            xp.maximum(y, win[:, :, i, j], out=y)
        self._win, self._y = win, y
        return y

    def backward(self, dy):
        win, y = self._win, self._y
        self._win = self._y = None

        dy = layout.match(dy, y)

        def fill(g):
            free = None  # per window: True while no earlier position has taken the gradient
            offsets = self._offsets()
            for k, (i, j) in enumerate(offsets):
                taken = win[:, :, i, j] == y
                if free is None:
                    free = ~taken
                else:
                    taken &= free
                    if k < len(offsets) - 1:
                        free ^= taken
                # A multiply by the mask, not `where`: several times faster in NumPy on these strided views.
                xp.multiply(dy, taken, out=g[:, :, i, j])
        return self._input_grad(fill, dy.dtype)

    def _moved(self, backend_name):
        self._win = self._y = None


class AvgPool2D(_Pool2D):
    """Mean over each window, as torch.nn.AvgPool2d with count_include_pad=True, ceil_mode=False:
    zero padding counts in the divisor kh*kw."""

    def forward(self, x):
        win = self._windows(x)
        y = layout.copy(win[:, :, 0, 0])
        for i, j in self._offsets()[1:]:
            y += win[:, :, i, j]
        y *= 1.0 / len(self._offsets())
        return y

    def backward(self, dy):
        share = dy * (1.0 / len(self._offsets()))

        def fill(g):
            g[...] = share[:, :, None, None]
        return self._input_grad(fill, dy.dtype)


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
