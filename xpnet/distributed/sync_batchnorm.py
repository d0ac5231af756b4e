"""`SyncBatchNorm`: batch normalisation over the global batch of every process, as PyTorch's SyncBatchNorm.

Plain batch norm in data-parallel training normalises each process's part of the batch with
that part's own statistics (PyTorch DDP's default, and xpnet's). SyncBatchNorm sums over the
processes instead, so N processes compute what one process computes on the whole batch: in
the forward pass the per-channel sums (one allreduce) give the global mean, then the sums of
squared deviations from it (a second allreduce) the global variance, the exact two-pass
formula of one process; in the backward pass one allreduce sums the per-channel sum(dy) and
sum(dy * x_hat) that the input gradient needs. The parameter gradients stay this process's
own sums: the trainer's gradient allreduce adds them up with every other.

The sums are computed for all channels before the layer's blocked pass, which then reads
them block by block (`_moments`, `_count`, `_grad_sums`, `_input_grad_sums`), so the
collectives do not depend on how each process splits its channels into blocks.
"""
import copy

import numpy as host  # the host-side sample count

from ..backend import layout, xp
from ..layers.base import check_input
from ..layers.batchnorm import _BatchNorm
from .launch import world


class SyncBatchNorm(_BatchNorm):
    """Batch norm for (N, C, ...) inputs with statistics over every process's batch (`comm`, default
    this process's `world()`); in one process, or in eval mode with running statistics, plain batch norm."""

    ranks = (2, 3, 4, 5)

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, comm=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats)
        self.comm = world() if comm is None else comm
        self._global = None  # (mean, var, count) of the global batch in the forward pass in progress
        self._sums = None    # (this process's, every process's) sum(dy) and sum(dy * x_hat), backward in progress

    def __deepcopy__(self, memo):
        """A copy that shares `comm`: a connection to the other processes is not copied (MPI's cannot be), so
        that a model with SyncBatchNorm can be copied (e.g. by `layers.fuse`)."""
        memo[id(self.comm)] = self.comm
        copied = memo[id(self)] = object.__new__(type(self))
        for name, value in vars(self).items():
            object.__setattr__(copied, name, copy.deepcopy(value, memo))
        return copied

    def forward(self, x):
        self._global = None
        if self.comm.size > 1 and (self.training or not self.track_running_stats):
            check_input(self, x, self.ranks, self.num_features, what="channels")
            xc = layout.batch_last(x).reshape(self.num_features, -1)
            count = int(self.comm.reduce_host(host.array([xc.shape[1]], host.int64))[0])
            mean = self.comm.allreduce(xc.sum(axis=1))
            mean /= count
            centred = xc - mean[:, None]
            var = self.comm.allreduce(xp.einsum("cp,cp->c", centred, centred))
            var /= count
            self._global = mean, var, count
        return super().forward(x)

    def backward(self, dy):
        self._sums = None
        if self._global is not None and self.needs_input_grad:
            c = self.num_features
            dyc = layout.batch_last(dy).reshape(c, -1)
            own = xp.empty((2, c), dyc.dtype)
            super()._grad_sums(slice(None), dyc, self._xc - self._mean[:, None], self._inv_std, own[0], own[1])
            self._sums = own, self.comm.allreduce(own.copy())
        return super().backward(dy)

    def _moments(self, block, xc, mean, var):
        if self._global is None:
            return super()._moments(block, xc, mean, var)
        mean[...] = self._global[0][block]
        var[...] = self._global[1][block]

    def _count(self, n):
        return n if self._global is None else self._global[2]

    def _grad_sums(self, block, dy, centred, inv_std, sum_dy, sum_dy_xhat):
        if self._sums is None:
            return super()._grad_sums(block, dy, centred, inv_std, sum_dy, sum_dy_xhat)
        sum_dy[...], sum_dy_xhat[...] = self._sums[0][:, block]  # computed once, before the allreduce

    def _input_grad_sums(self, block, sum_dy, sum_dy_xhat):
        if self._sums is None:
            return super()._input_grad_sums(block, sum_dy, sum_dy_xhat)
        return self._sums[1][0, block], self._sums[1][1, block]


def convert_sync_batchnorm(model, comm=None):
    """`model` with every BatchNorm1D/2D in it replaced by a SyncBatchNorm over `comm` that keeps its
    settings, Parameters and buffers (so the state_dict keys stay those of batch norm); returns the model,
    or the new layer when `model` itself is a batch norm. Build the optimizer afterwards."""
    if isinstance(model, _BatchNorm) and not isinstance(model, SyncBatchNorm):
        return _synced(model, comm)
    for layer in list(model.modules()):
        for name, child in layer.named_children():
            if isinstance(child, _BatchNorm) and not isinstance(child, SyncBatchNorm):
                setattr(layer, name, _synced(child, comm))
    return model


def _synced(bn, comm):
    sync = SyncBatchNorm(bn.num_features, bn.eps, bn.momentum, bn.affine, bn.track_running_stats, comm=comm)
    if bn.affine:
        sync.weight, sync.bias = bn.weight, bn.bias
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        object.__setattr__(sync, name, getattr(bn, name))
    sync.training = bn.training
    sync.needs_input_grad = bn.needs_input_grad
    return sync
