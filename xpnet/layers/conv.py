"""Conv2D: 2-D convolution (cross-correlation, as PyTorch's Conv2d), and the passes ConvTranspose2D reuses.

Start with `conv2d_reference`: the whole convolution in a few lines, im2col as one
strided view and one product with the weight. Conv2D computes the same thing faster:

- `conv_forward` runs over blocks of output rows (`ops.row_blocks`): each block's
  columns are built by `ops.im2col` in a reused buffer (`ops.scratch`), multiplied
  by the weight and dropped while still in the cache, so the full column matrix
  (kh*kw times the input) is never stored. On the GPU the blocks are far larger.
- `conv_backward` gives the weight gradient dy · columnsᵀ (rebuilding each block's
  columns from the saved padded input) and the input gradient col2im(Wᵀ · dy).

The input gradient of a convolution is the forward pass of a transposed convolution
and vice versa, so ConvTranspose2D (conv_transpose.py) runs the same two passes with
the roles swapped. Arrays are NCHW stored batch-last (backend/layout.py), so one
matrix product per group covers the whole batch and its output is the next layer's
input layout.
"""
import math

from .. import environment, init
from ..backend import current, layout, ops, xp
from ..parameter import Parameter
from . import adjoint, shifted, tuner, winograd
from .base import Layer, check_input
from .window import check_window, pair


def conv2d_reference(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """The convolution of `x` (N, C, H, W) with `weight` (O, C/groups, kh, kw), as torch.nn.functional.conv2d:

        y[n, o, i, j] = bias[o] + sum over c, p, q of  xpad[n, c, i*sh + p*dh, j*sw + q*dw] * weight[o, c, p, q]

    with c running over the input channels of o's group. im2col is the strided view `cols`, which copies
    nothing; the convolution is one product of it with the weight."""
    (sh, sw), (ph, pw), (dh, dw) = pair(stride, "stride", 1), pair(padding, "padding", 0), pair(dilation, "dilation", 1)
    o, cg, kh, kw = weight.shape
    xpad = xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    cols = layout.windows(xpad, (kh, kw), (sh, sw), (dh, dw))  # (N, C, kh, kw, OH, OW), a view of xpad
    n, _, _, _, oh, ow = cols.shape
    cols = cols.reshape(n, groups, cg, kh, kw, oh, ow)
    y = xp.einsum("ngcpqij,gocpq->ngoij", cols, weight.reshape(groups, o // groups, cg, kh, kw))
    y = y.reshape(n, o, oh, ow)
    return y if bias is None else y + bias.reshape(1, o, 1, 1)


def _blocks(k, size, n, dtype):
    """(blocks of output rows, column entries of the largest block) for columns of `k` rows (C*kh*kw)
    over an output `size` (OH, OW) of batch `n`."""
    blocks = ops.row_blocks(size[0], k * size[1] * n * xp.dtype(dtype).itemsize)
    return blocks, k * (blocks[0][1] - blocks[0][0]) * size[1] * n


def _rows(start, stop, kernel, stride, dilation):
    """The padded input rows that output rows start..stop-1 read."""
    return slice(start * stride[0], (stop - 1) * stride[0] + dilation[0] * (kernel[0] - 1) + 1)


def conv_forward(xpad, weight, stride, dilation, groups, size):
    """y (N, O, OH, OW), stored batch-last: the convolution of the padded `xpad` (N, C, H, W) with
    weight (O, C/groups, kh, kw) at the first `size` = (OH, OW) output positions."""
    n = xpad.shape[0]
    o, _, kh, kw = weight.shape
    w = weight.reshape(groups, o // groups, -1)
    y = layout.empty((n, o, *size), xp.result_type(xpad, weight))
    yt = layout.batch_last(y)  # (O, OH, OW, N): a view the blocks' products write into
    blocks, columns = _blocks(groups * w.shape[2], size, n, xpad.dtype)
    buf = ops.scratch("columns", columns, xpad.dtype)
    for start, stop in blocks:
        rows = xpad[:, :, _rows(start, stop, (kh, kw), stride, dilation)]
        col = ops.im2col(rows, (kh, kw), stride, dilation, (stop - start, size[1]), buf)
        ops.matmul(w, layout.batch_last(col).reshape(groups, w.shape[2], -1),
                   out=yt[:, start:stop].reshape(groups, o // groups, -1))
    return y


def conv_backward(dy, weight, stride, dilation, groups, xpad=None, padded_shape=None):
    """(dL/dweight or None, dL/dxpad or None) of a convolution from its output gradient dy (N, O, OH, OW).

    The weight gradient dy · im2col(xpad)ᵀ needs the forward's padded input `xpad`; the input
    gradient col2im(weightᵀ · dy), of the padded input's shape `padded_shape`, is stored batch-last.
    ConvTranspose2D calls it with the roles swapped: its input as `dy` (its forward pass is this
    input gradient) and its padded output gradient as `xpad` (for its weight gradient)."""
    n, o, oh, ow = dy.shape
    cg, kh, kw = weight.shape[1:]
    dyt = layout.batch_last(dy)
    w = weight.reshape(groups, o // groups, -1)
    k = w.shape[2]
    dtype = xp.result_type(dy, weight, *([] if xpad is None else [xpad]))
    dw = xp.zeros(w.shape, dtype=dtype) if xpad is not None else None
    dx = layout.zeros(padded_shape, dtype) if padded_shape is not None else None
    blocks, columns = _blocks(groups * k, (oh, ow), n, dtype)
    buf = ops.scratch("columns", columns, dtype)
    for start, stop in blocks:
        rows = _rows(start, stop, (kh, kw), stride, dilation)
        d = dyt[:, start:stop].reshape(groups, o // groups, -1)
        if dw is not None:
            col = ops.im2col(xpad[:, :, rows], (kh, kw), stride, dilation, (stop - start, ow), buf)
            dw += ops.matmul_nt(d, layout.batch_last(col).reshape(groups, k, -1))
        if dx is not None:  # the weight gradient's product has read `col`: its buffer takes dcol
            dcol = ops.matmul(w.transpose(0, 2, 1), d, out=buf[:groups * k * d.shape[2]].reshape(groups, k, -1))
            ops.col2im(layout.batch_first(dcol.reshape(groups * cg, kh, kw, stop - start, ow, n)), dx[:, :, rows],
                       stride, dilation)
    return (None if dw is None else dw.reshape(weight.shape)), dx


class _Conv(Layer):
    """Arguments, parameters and repr shared by Conv2D and ConvTranspose2D.

    `weight_shape(in_channels, out_channels, groups, kernel)` gives the layer's PyTorch weight shape. The
    default initialisation is PyTorch's: weight and bias from U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in being
    the weight's shape[1] * kh * kw (in/groups for Conv2D, out/groups for ConvTranspose2D)."""

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
        shape = weight_shape(in_channels, out_channels, groups, self.kernel_size)
        self.weight = Parameter(init.get(weight_init)(shape))
        self.bias = Parameter(init.get_bias(bias_init, shape)((out_channels,))) if bias else None

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


# The algorithms a Conv2D may run; "auto" times those that apply on the first call of each shape (tuner.py).
ALGORITHMS = ("im2col", "im2col_flipped", "shifted", "winograd_f2", "winograd_f4")
STRIDE_ONE_UNGROUPED = ("im2col_flipped", "shifted")  # those that need stride 1 and groups 1 (shifted.applies)
WINOGRAD_TILE = {"winograd_f2": 2, "winograd_f4": 4}  # F(m x m, 3 x 3): the output tile m each one computes


def _check_algorithm(name, origin):
    if name != "auto" and name not in ALGORITHMS:
        raise ValueError(f"{origin} must be auto or one of {', '.join(ALGORITHMS)}, got {name!r}")
    return name


def _applies(layer, name, size):
    """Whether algorithm `name` computes Conv2D `layer` at output size `size` = (OH, OW)."""
    if name in STRIDE_ONE_UNGROUPED:
        return shifted.applies(layer.stride, layer.groups)
    if name in WINOGRAD_TILE:
        return winograd.applies(layer, size, WINOGRAD_TILE[name])
    return True


def _forward(layer, name, xpad, size):
    """y (N, O, OH, OW), stored batch-last, without bias: Conv2D `layer` on padded `xpad` by algorithm `name`."""
    w = layer.weight.data
    if name == "shifted":
        return shifted.conv2d(xpad, w, layer.dilation)
    if name in WINOGRAD_TILE:
        return winograd.conv2d(xpad, w, WINOGRAD_TILE[name])
    return conv_forward(xpad, w, layer.stride, layer.dilation, layer.groups, size)


def _backward(layer, name, xpad, dy, input_grad):
    """(dL/dweight, dL/dx or None) of Conv2D `layer` by algorithm `name`; dx unpadded, stored batch-last."""
    w = layer.weight.data
    if name in WINOGRAD_TILE:  # its input gradient comes unpadded
        m = WINOGRAD_TILE[name]
        return winograd.weight_grad(xpad, dy, m), (winograd.input_grad(dy, w, m) if input_grad else None)
    if name == "im2col_flipped":  # the input gradient as the flipped kernel's convolution, also unpadded
        dw = conv_backward(dy, w, layer.stride, layer.dilation, layer.groups, xpad)[0]
        return dw, (_input_grad_flipped(layer, dy, xpad.shape) if input_grad else None)
    if name == "shifted":  # the others give the gradient of the padded input
        dw, dx = shifted.backward(dy, w, layer.dilation, xpad, input_grad)
    else:
        dw, dx = conv_backward(dy, w, layer.stride, layer.dilation, layer.groups, xpad,
                               xpad.shape if input_grad else None)
    return dw, (None if dx is None else layout.unpadded(dx, layer.padding))


def _input_grad_flipped(layer, dy, padded_shape):
    """dL/dx, stored batch-last, of stride-1 Conv2D `layer`: the convolution of dy framed by zeros with the
    flipped kernel (adjoint.py), by `conv_forward`."""
    size = tuple(s - 2 * p for s, p in zip(padded_shape[2:], layer.padding))
    return conv_forward(adjoint.framed(dy, layer.kernel_size, layer.padding, layer.dilation),
                        adjoint.flipped(layer.weight.data), (1, 1), layer.dilation, 1, size)


class Conv2D(_Conv):
    """y = W ⋆ x + b on NCHW input; weight (out, in/groups, kh, kw), bias (out,), as torch.nn.Conv2d.

    `algorithm` picks how it is computed, the same numbers either way (within rounding):

    - "im2col": `conv_forward` / `conv_backward`, any settings;
    - "im2col_flipped": the same, but the input gradient as `conv_forward` of dy with the flipped kernel
      (adjoint.py) instead of col2im, stride 1 and ungrouped;
    - "shifted": one GEMM per kernel row on a width-unrolled copy of the input (shifted.py), stride 1 and
      ungrouped;
    - "winograd_f2", "winograd_f4": Winograd's F(2x2, 3x3) or F(4x4, 3x3) (winograd.py), "same" 3x3
      convolutions whose output is whole tiles;
    - "auto" (default): the environment variable XPNET_CONV_ALGO when set (layers it cannot compute
      use im2col), else the fastest of those that apply, timed on the first call of each input shape,
      dtype and backend (tuner.py); then the fastest size of its blocks (`ops.block_sizes()`: the CPU's
      caches decide it) for that algorithm.

    `self.algorithm` is the one the last call ran, `self.block_bytes` the size of its blocks (None where the
    algorithm was forced: then the default, or the size of a surrounding `ops.blocks_of`). Backward skips
    the input gradient when `needs_input_grad` is False (as the first layer in training).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, *, weight_init="fan_in_uniform", bias_init="fan_in_uniform",
                 algorithm="auto"):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         weight_init, bias_init, lambda i, o, g, k: (o, i // g, *k))
        self.requested_algorithm = _check_algorithm(algorithm, "Conv2D algorithm")
        if algorithm in STRIDE_ONE_UNGROUPED and not shifted.applies(self.stride, groups):
            raise ValueError(f"Conv2D algorithm {algorithm!r} needs stride 1 and groups 1, got stride {self.stride} "
                             f"and groups {groups}")
        self.algorithm = self.block_bytes = None
        self._xpad = None

    def forward(self, x):
        check_input(self, x, 4, self.in_channels)
        size = check_window(self, x.shape, self.kernel_size, self.stride, self.padding, self.dilation)
        self._xpad = layout.padded(x, self.padding)
        self.algorithm, self.block_bytes = self._choose(self._xpad, size)
        with ops.blocks_of(self.block_bytes):
            return self._add_bias(_forward(self, self.algorithm, self._xpad, size))

    def _choose(self, xpad, size):
        """(algorithm, block bytes) for this call: the algorithm asked for, in blocks of the size that
        `ops.blocks_of` sets around the call (None here; the default size when not set), else the fastest
        algorithm and then the fastest block size for it (each timed once per problem)."""
        name = self.requested_algorithm
        if name != "auto":
            if not _applies(self, name, size):
                raise ValueError(f"Conv2D algorithm {name!r} does not apply to {self.extra_repr()} with output "
                                 f"size {size} (Winograd: 3x3, stride 1, padding 1, whole output tiles)")
            return name, None
        name = environment.conv_algorithm()  # checked there
        if name != "auto":
            return (name if _applies(self, name, size) else "im2col"), None
        train = self.training  # time the backward pass too
        key = (current(), xp.result_type(xpad, self.weight.data), xpad.shape, self.weight.shape, self.stride,
               self.dilation, self.groups, train, self.needs_input_grad)

        def run(a, nbytes):
            with ops.blocks_of(nbytes):
                y = _forward(self, a, xpad, size)
                if train:
                    _backward(self, a, xpad, y, self.needs_input_grad)
        # Operations (two per multiply-add) of the forward product, and in training of the two gradient products too.
        work = 2 * math.prod(self.weight.shape) * xpad.shape[0] * size[0] * size[1] * (3 if train else 1)
        sizes = ops.block_sizes()  # in the key: a test, or another default, brings other sizes
        name = tuner.fastest(key, lambda: self.candidates(size), lambda a: run(a, sizes[0]), work)
        return name, tuner.fastest(key + (name, sizes), lambda: sizes, lambda b: run(name, b), work)

    def candidates(self, size):
        """The algorithms "auto" times for output size `size` = (OH, OW): those that apply, less
        "im2col_flipped" where no input gradient is computed (there it is im2col)."""
        return [a for a in ALGORITHMS if _applies(self, a, size)
                and (a != "im2col_flipped" or self.training and self.needs_input_grad)]

    def backward(self, dy):
        xpad, self._xpad = self._xpad, None  # free the saved input once used, as PyTorch frees saved tensors
        self._bias_grad(dy)
        with ops.blocks_of(self.block_bytes):
            dw, dx = _backward(self, self.algorithm, xpad, dy, self.needs_input_grad)
        self.weight.accumulate(dw)
        return dx

    def extra_repr(self):
        s = super().extra_repr()
        return s if self.requested_algorithm == "auto" else s + f", algorithm={self.requested_algorithm!r}"

    def _moved(self, backend_name):
        self._xpad = None

    def export_onnx(self, graph, x):
        """ONNX Conv: the same cross-correlation, weight layout and zero padding."""
        return graph.op("Conv", x, graph.param("weight", self.weight), graph.param("bias", self.bias),
                        kernel_shape=self.kernel_size, strides=self.stride, pads=self.padding * 2,
                        dilations=self.dilation, group=self.groups)
