"""Batch normalisation (Ioffe & Szegedy, 2015) over every axis but the channel axis 1.

The work runs on the channel-major view of the input, (C, everything else), which a
convolution's batch-last output gives for free, in blocks of channels that fit in
the cache: each block's statistics are exact two-pass ones, yet the input is read
from memory once in the forward pass and once in the backward pass.
"""
from .. import init
from ..backend import layout, ops, xp
from ..parameter import Parameter
from .base import Layer, check_input
from .norm import channel_moments


def scale_shift(x, scale, shift, out):
    """out = x * scale + shift (scale and shift broadcast along x's rows, the channels)."""
    xp.multiply(x, scale, out=out)
    out += shift


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
        mean = xp.empty(c, x.dtype)
        var = xp.empty(c, x.dtype)
        y = xp.empty_like(xc)
        for c0, c1 in blocks:
            if self._batch_stats:
                mean[c0:c1], var[c0:c1] = channel_moments(xc[c0:c1])
            else:
                mean[c0:c1], var[c0:c1] = self.running_mean[c0:c1], self.running_var[c0:c1]
            scale, shift = self._scale_shift(mean[c0:c1], var[c0:c1], c0, c1)
            ops.fused("scale_shift", scale_shift)(xc[c0:c1], scale[:, None], shift[:, None], y[c0:c1])
        if self._batch_stats and self.training and self.track_running_stats:
            self._update_running(mean, var, n)
        self._xc, self._mean, self._inv_std, self._blocks = xc, mean, 1 / xp.sqrt(var + self.eps), blocks
        return layout.batch_first(y.reshape(x.shape[1:] + x.shape[:1]))

    def _scale_shift(self, mean, var, c0, c1):
        """(scale, shift) of channels c0..c1 with y = x * scale + shift = (x - mean) / std * weight + bias."""
        scale = 1 / xp.sqrt(var + self.eps)
        if self.affine:
            scale *= self.weight.data[c0:c1]
        shift = -mean * scale
        if self.affine:
            shift += self.bias.data[c0:c1]
        return scale, shift

    def _update_running(self, mean, var, n):
        """PyTorch's update: an exponential average (or cumulative, momentum=None), unbiased variance."""
        self.num_batches_tracked += 1
        m = self.momentum
        if m is None:
            m = (1 / self.num_batches_tracked).astype(mean.dtype)
        self.running_mean *= 1 - m
        self.running_mean += m * mean
        self.running_var *= 1 - m
        self.running_var += (m * n / (n - 1)) * var

    def backward(self, dy):
        """With x_hat = (x - mean) / std and g = dy * weight: d weight = sum(dy * x_hat), d bias = sum(dy), and
        d x = (g - mean(g) - x_hat * mean(g * x_hat)) / std with batch statistics (g / std with running ones),
        all per channel, computed block by block of channels while each block is in the cache."""
        c = self.num_features
        dyc = layout.batch_last(dy).reshape(c, -1)
        xc, mean, inv_std = self._xc, self._mean, self._inv_std
        n = xc.shape[1]
        sum_dy = xp.empty(c, dy.dtype)
        sum_dy_xhat = xp.empty(c, dy.dtype)
        dx = xp.empty_like(dyc) if self.needs_input_grad else None
        for c0, c1 in self._blocks:
            dyb, centred = dyc[c0:c1], xc[c0:c1] - mean[c0:c1, None]
            sum_dy[c0:c1] = dyb.sum(axis=1)
            sum_dy_xhat[c0:c1] = xp.einsum("cp,cp->c", dyb, centred) * inv_std[c0:c1]
            if dx is None:
                continue
            k = inv_std[c0:c1] * (self.weight.data[c0:c1] if self.affine else 1)
            if self._batch_stats:
                ops.fused("normalized_grad", normalized_grad)(dyb, centred, k[:, None],
                                                              (k * inv_std[c0:c1] * sum_dy_xhat[c0:c1] / n)[:, None],
                                                              (k * sum_dy[c0:c1] / n)[:, None], dx[c0:c1])
            else:
                xp.multiply(dyb, k[:, None], out=dx[c0:c1])
        if self.affine:
            self.weight.accumulate(sum_dy_xhat)
            self.bias.accumulate(sum_dy)
        if dx is None:
            return None
        return layout.batch_first(dx.reshape(dy.shape[1:] + dy.shape[:1]))

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1D(_BatchNorm):
    """Batch norm for (N, C) or (N, C, L) inputs."""

    ranks = (2, 3)


class BatchNorm2D(_BatchNorm):
    """Batch norm for (N, C, H, W) inputs."""

    ranks = (4,)
