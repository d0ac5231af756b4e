"""Batch normalisation (Ioffe & Szegedy, 2015) over every axis but the channel axis 1."""
from .. import init
from ..backend import xp
from ..parameter import Parameter
from .base import Layer, check_input
from .norm import normalize, normalize_backward


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

    def _per_channel(self, v, ndim):
        """A (C,) array shaped to broadcast along axis 1 of a rank-`ndim` input."""
        return v.reshape((-1,) + (1,) * (ndim - 2))

    def forward(self, x):
        check_input(self, x, self.ranks, self.num_features, what="channels")
        axes = (0,) + tuple(range(2, x.ndim))
        self._batch_stats = self.training or not self.track_running_stats
        if self._batch_stats:
            n = x.size // self.num_features
            if n < 2 and self.training:
                raise ValueError(f"{type(self).__name__} needs more than 1 value per channel in training, "
                                 f"got input shape {tuple(x.shape)}")
            x_hat, mean, var, inv_std = normalize(x, axes, self.eps)
            if self.training and self.track_running_stats:
                self._update_running(mean.reshape(-1), var.reshape(-1), n)
        else:
            inv_std = 1 / xp.sqrt(self._per_channel(self.running_var, x.ndim) + self.eps)
            x_hat = (x - self._per_channel(self.running_mean, x.ndim)) * inv_std
        self._x_hat, self._inv_std, self._axes = x_hat, inv_std, axes
        if not self.affine:
            return x_hat
        return x_hat * self._per_channel(self.weight.data, x.ndim) + self._per_channel(self.bias.data, x.ndim)

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
        x_hat, axes = self._x_hat, self._axes
        if self.affine:
            self.weight.accumulate((dy * x_hat).sum(axis=axes))
            self.bias.accumulate(dy.sum(axis=axes))
        if not self.needs_input_grad:
            return None
        g = dy * self._per_channel(self.weight.data, dy.ndim) if self.affine else dy
        if self._batch_stats:
            return normalize_backward(g, x_hat, self._inv_std, axes)
        return g * self._inv_std

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1D(_BatchNorm):
    """Batch norm for (N, C) or (N, C, L) inputs."""

    ranks = (2, 3)


class BatchNorm2D(_BatchNorm):
    """Batch norm for (N, C, H, W) inputs."""

    ranks = (4,)
