"""Batch normalisation (Ioffe & Szegedy, 2015) over every axis but the channel axis 1.

`batch_norm_reference` is the plain form in a few lines; the layers compute the same fast:
the work runs on the channel-major view of the input, (C, everything else), which a
convolution's batch-last output gives for free, in blocks of channels that fit in
the cache: each block's statistics are exact two-pass ones, yet the input is read
from memory once in the forward pass and once in the backward pass.
"""
from .. import init
from ..backend import layout, ops, xp
from ..backend.rules import elementwise
from ..parameter import Parameter
from .base import Layer, check_input
from .norm import channel_moments, normalize, normalize_backward


def batch_norm_reference(x, weight, bias, eps):
    """Batch norm in training, plainly (the form to read first; the layer below is tested against it):
    normalise each channel (axis 1) over every other axis with the batch's mean and biased variance, then
    scale and shift. `weight` and `bias` are (C,) or None. Returns y and what the backward pass needs."""
    axes = (0,) + tuple(range(2, x.ndim))
    per_channel = (1, -1) + (1,) * (x.ndim - 2)
    x_hat, _, _, inv_std = normalize(x, axes, eps)
    y = x_hat if weight is None else x_hat * weight.reshape(per_channel) + bias.reshape(per_channel)
    return y, (x_hat, inv_std, weight, axes, per_channel)


def batch_norm_reference_backward(dy, cache):
    """(dx, d weight, d bias) of `batch_norm_reference`: the bias gradient sums dy, the weight gradient sums
    dy * x_hat, and dx is normalisation's gradient of g = dy * weight."""
    x_hat, inv_std, weight, axes, per_channel = cache
    g = dy if weight is None else dy * weight.reshape(per_channel)
    return normalize_backward(g, x_hat, inv_std, axes), (dy * x_hat).sum(axis=axes), dy.sum(axis=axes)


@elementwise("channel_affine", "T mean, T var, T weight, T bias, T eps", "T inv_std, T scale, T shift", """
    inv_std = 1 / sqrt(var + eps);
    scale = inv_std * weight;
    shift = bias - mean * scale;
    """)
def channel_affine(mean, var, weight, bias, eps, inv_std, scale, shift):
    """Per channel: inv_std = 1 / sqrt(var + eps), and the scale and shift with which
    y = x * scale + shift = (x - mean) * inv_std * weight + bias."""
    xp.add(var, eps, out=inv_std)
    xp.sqrt(inv_std, out=inv_std)
    xp.divide(1, inv_std, out=inv_std)
    xp.multiply(inv_std, weight, out=scale)
    xp.multiply(mean, scale, out=shift)
    xp.subtract(bias, shift, out=shift)


@elementwise("running_average", "T mean, T var, T keep, T momentum, T momentum_unbiased",
             "T running_mean, T running_var", """
    running_mean = running_mean * keep + momentum * mean;
    running_var = running_var * keep + momentum_unbiased * var;
    """)
def running_average(mean, var, keep, momentum, momentum_unbiased, running_mean, running_var):
    """running = keep * running + momentum * batch statistic, the variance made unbiased by its factor."""
    running_mean *= keep
    running_mean += momentum * mean
    running_var *= keep
    running_var += momentum_unbiased * var


@elementwise("grad_factors", "T inv_std, T weight, T sum_dy, T sum_dy_xhat, T n_inv", "T k, T k_centred, T k_shift",
             """
    k = inv_std * weight;
    k_centred = k * inv_std * sum_dy_xhat * n_inv;
    k_shift = k * sum_dy * n_inv;
    """)
def grad_factors(inv_std, weight, sum_dy, sum_dy_xhat, n_inv, k, k_centred, k_shift):
    """Per channel, the factors of `normalized_grad`: k = inv_std * weight, k_centred =
    k * inv_std * sum(dy * x_hat) / n and k_shift = k * sum(dy) / n."""
    xp.multiply(inv_std, weight, out=k)
    xp.multiply(k, inv_std, out=k_centred)
    k_centred *= sum_dy_xhat
    k_centred *= n_inv
    xp.multiply(k, sum_dy, out=k_shift)
    k_shift *= n_inv


@elementwise("scale_shift", "T x, T scale, T shift", "T out", "out = x * scale + shift;")
def scale_shift(x, scale, shift, out):
    """out = x * scale + shift (scale and shift broadcast along x's rows, the channels)."""
    xp.multiply(x, scale, out=out)
    out += shift


@elementwise("normalized_grad", "T dy, T centred, T k, T k_centred, T k_shift", "T out",
             "out = dy * k - centred * k_centred - k_shift;")
def normalized_grad(dy, centred, k, k_centred, k_shift, out):
    """out = k dy - k_centred (x - mean) - k_shift, the input gradient of batch normalisation with batch
    statistics (factors per channel, broadcast along the rows); `centred` = x - mean is overwritten."""
    xp.multiply(dy, k, out=out)
    centred *= k_centred
    out -= centred
    out -= k_shift


class _BatchNorm(Layer):
    """Shared by BatchNorm1D and BatchNorm2D, which differ only in the input ranks they accept."""

    ranks = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True):
        super().__init__()
        if momentum is not None and not 0 <= momentum <= 1:
            raise ValueError(f"{type(self).__name__} momentum must be in [0, 1] or None, got {momentum}")
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.weight = Parameter(init.ones((num_features,))) if affine else None
        self.bias = Parameter(init.zeros((num_features,))) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", init.zeros((num_features,)))
            self.register_buffer("running_var", init.ones((num_features,)))
            self.register_buffer("num_batches_tracked", xp.zeros((), dtype=xp.int64))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def forward(self, x):
        check_input(self, x, self.ranks, self.num_features, what="channels")
        c = self.num_features
        xc = layout.batch_last(x).reshape(c, -1)  # channel-major (C, everything else): free after a convolution
        n = xc.shape[1]
        self._batch_stats = self.training or not self.track_running_stats
        if self._batch_stats and n < 2 and self.training:
            raise ValueError(f"{type(self).__name__} needs more than 1 value per channel in training, "
                             f"got input shape {tuple(x.shape)}")
        blocks = ops.row_blocks(c, 3 * n * xc.itemsize)  # the block, its output and a temporary stay in the cache
        mean, var = ((xp.empty(c, x.dtype), xp.empty(c, x.dtype)) if self._batch_stats
                     else (self.running_mean, self.running_var))
        inv_std, scale, shift = (xp.empty(c, x.dtype) for _ in range(3))
        y = xp.empty_like(xc)
        for c0, c1 in blocks:
            b = slice(c0, c1)
            if self._batch_stats:
                self._moments(b, xc[b], mean[b], var[b])
            weight, bias = (self.weight.data[b], self.bias.data[b]) if self.affine else (1.0, 0.0)
            channel_affine(mean[b], var[b], weight, bias, self.eps, inv_std[b], scale[b], shift[b])
            scale_shift(xc[b], scale[b, None], shift[b, None], y[b])
        if self._batch_stats and self.training and self.track_running_stats:
            self._update_running(mean, var, self._count(n))
        self._xc, self._mean, self._inv_std, self._blocks = xc, mean, inv_std, blocks
        return layout.batch_first(y.reshape(x.shape[1:] + x.shape[:1]))

    def _moments(self, block, xc, mean, var):
        """The batch mean and biased variance of each channel (row) of the block `xc` (C', P), the layer's
        channels `block` (a slice), into `mean` and `var` (C',). A subclass that normalises over several
        processes' batches reduces them here."""
        channel_moments(xc, mean, var)

    def _count(self, n):
        """How many values per channel the batch statistics are taken over (`n` of them in this process)."""
        return n

    def _grad_sums(self, block, dy, centred, inv_std, sum_dy, sum_dy_xhat):
        """Per channel of the block (the layer's channels `block`): sum(dy) and sum(dy * x_hat) into `sum_dy`
        and `sum_dy_xhat`, the bias and weight gradients."""
        dy.sum(axis=1, out=sum_dy)
        xp.multiply(xp.einsum("cp,cp->c", dy, centred), inv_std, out=sum_dy_xhat)

    def _input_grad_sums(self, block, sum_dy, sum_dy_xhat):
        """The sums the input gradient uses for the channels `block`: this process's own (a subclass over
        several processes returns them summed over all)."""
        return sum_dy, sum_dy_xhat

    def _update_running(self, mean, var, n):
        """PyTorch's update: an exponential average (or cumulative, momentum=None), unbiased variance."""
        self.num_batches_tracked += 1
        m = self.momentum
        if m is None:
            m = (1 / self.num_batches_tracked).astype(mean.dtype)
        running_average(mean, var, 1 - m, m, m * n / (n - 1), self.running_mean, self.running_var)

    def backward(self, dy):
        """With x_hat = (x - mean) / std and g = dy * weight: d weight = sum(dy * x_hat), d bias = sum(dy), and
        d x = (g - mean(g) - x_hat * mean(g * x_hat)) / std with batch statistics (g / std with running ones),
        all per channel, computed block by block of channels while each block is in the cache."""
        c = self.num_features
        dyc = layout.batch_last(dy).reshape(c, -1)
        xc, mean, inv_std = self._xc, self._mean, self._inv_std
        n = self._count(xc.shape[1])
        sum_dy, sum_dy_xhat, k, k_centred, k_shift = (xp.empty(c, dy.dtype) for _ in range(5))
        weight = self.weight.data if self.affine else None
        dx = xp.empty_like(dyc) if self.needs_input_grad else None
        for c0, c1 in self._blocks:
            b = slice(c0, c1)
            dyb, centred = dyc[b], xc[b] - mean[b, None]
            self._grad_sums(b, dyb, centred, inv_std[b], sum_dy[b], sum_dy_xhat[b])
            if dx is None:
                continue
            total_dy, total_dy_xhat = self._input_grad_sums(b, sum_dy[b], sum_dy_xhat[b])
            grad_factors(inv_std[b], 1.0 if weight is None else weight[b], total_dy, total_dy_xhat, 1 / n, k[b],
                         k_centred[b], k_shift[b])
            if self._batch_stats:
                normalized_grad(dyb, centred, k[b, None], k_centred[b, None], k_shift[b, None], dx[b])
            else:
                xp.multiply(dyb, k[b, None], out=dx[b])
        if self.affine:
            self.weight.accumulate(sum_dy_xhat)
            self.bias.accumulate(sum_dy)
        if dx is None:
            return None
        return layout.batch_first(dx.reshape(dy.shape[1:] + dy.shape[:1]))

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")

    def export_onnx(self, graph, x):
        """ONNX BatchNormalization with the running statistics; without them (track_running_stats=False,
        which normalises by the batch's own statistics in eval mode too) graph.normalize of the channels of
        the (1, C, rest) view, scaled and shifted per channel."""
        weight = graph.param("weight", self.weight) or graph.ones(self.num_features)
        bias = graph.param("bias", self.bias) or graph.const([0.0] * self.num_features)
        if self.track_running_stats:
            return graph.op("BatchNormalization", x, weight, bias, graph.param("running_mean", self.running_mean),
                            graph.param("running_var", self.running_var), epsilon=float(self.eps))
        swap = [1, 0, *range(2, len(graph.shape(x)))]  # (N, C, ...) <-> (C, N, ...), its own inverse
        rows = graph.normalize(graph.op("Transpose", x, perm=swap), 1, self.num_features, self.eps, weight, bias)
        return graph.op("Transpose", rows, perm=swap)


class BatchNorm1D(_BatchNorm):
    """Batch norm for (N, C) or (N, C, L) inputs."""

    ranks = (2, 3)


class BatchNorm2D(_BatchNorm):
    """Batch norm for (N, C, H, W) inputs."""

    ranks = (4,)
