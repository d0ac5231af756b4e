"""`DataParallel`: what makes several processes train one model as one process would.

Every process holds a whole copy of the model and computes the gradient of its part of
the global batch (DataLoader's `rank` and `world_size`). Then, per step, one packed
buffer (Horovod's tensor fusion, ChainerMN's packed communicator): every parameter's
gradient in a row, and at the end this process's share of the loss's denominator (its
sample count); one allreduce sums it over the processes; the gradients are divided by
the summed denominator. With a mean loss each process back-propagates the gradient of its
*summed* loss (`loss.backward(denominator)`), so parts of unequal size (an uneven last
batch) add up to exactly the global mean, and a synchronised batch norm sees gradients of
one scale on every process. The result equals one process's up to the order of the sums.

Around the steps: every process starts from rank 0's weights, buffers and optimizer state
(and, on resume, rank 0's checkpoint); loss and accuracy sums are summed over processes;
each epoch ends with rank 0's buffers (batch norm's running statistics, per process
unless synchronised) broadcast and a check that every copy of the model is bit-identical.
Each process then draws its own dropout masks from a stream of its own.
"""
import hashlib

import numpy as host  # host-side sums and digests

from ..backend import get_rng_state, rng, seed, set_rng_state, to_numpy, xp
from .faults import fail_together
from .single import SingleProcess


class ReplicasDiffer(RuntimeError):
    """The processes' copies of the model are no longer identical (raised on every process)."""


class DataParallel:
    """Data-parallel training of `model` with `loss` over the processes of `comm` (one process: no-ops)."""

    def __init__(self, comm, model, loss):
        self.comm = SingleProcess() if comm is None else comm
        self.model, self.loss = model, loss
        self.active = self.comm.size > 1
        self.writer = self.comm.rank == 0  # the one process that prints and writes files
        self._flat = None         # the packed gradient buffer, reused every step
        self._denominator = None  # this process's share of the loss's denominator in the step

    # -- each step ---------------------------------------------------------------------------
    def loss_gradient(self):
        """d loss / d model output to back-propagate: the loss's own in one process; with several, that of
        the summed loss when the loss is a mean (reduce_gradients divides by the global denominator)."""
        if not self.active:
            return self.loss.backward()
        self._denominator = self.loss.denominator if self.loss.reduction == "mean" else None
        return self.loss.backward(self._denominator)

    def reduce_gradients(self):
        """Sum every parameter's gradient over the processes in one allreduce of one packed buffer and
        divide by the summed denominator; each `.grad` becomes a view into the buffer."""
        if not self.active:
            return
        params = self.model.parameters()
        flat = self._buffer(params)
        offset = 0
        for p in params:
            part = flat[offset:offset + p.data.size]
            if p.grad is None:
                part.fill(0)
            else:
                part[...] = p.grad.reshape(-1)
            offset += p.data.size
        flat[-1] = 0 if self._denominator is None else self._denominator
        self.comm.allreduce(flat)
        grads = flat[:-1]
        if self._denominator is not None:
            xp.divide(grads, flat[-1], out=grads)
        offset = 0
        for p in params:
            if p.grad is not None:
                p.grad = grads[offset:offset + p.data.size].reshape(p.data.shape)
            offset += p.data.size

    def _buffer(self, params):
        dtypes = {p.data.dtype for p in params}
        if len(dtypes) != 1:
            raise ValueError(f"DataParallel: the parameters must share one dtype to travel in one buffer, got "
                             f"{', '.join(sorted(str(d) for d in dtypes))}")
        size = sum(p.data.size for p in params) + 1
        if self._flat is None or self._flat.size != size or self._flat.dtype != params[0].data.dtype:
            self._flat = xp.empty(size, params[0].data.dtype)
        return self._flat

    # -- sums and agreement -------------------------------------------------------------------
    def sum_counts(self, *values):
        """Host floats: each of `values` (numbers or 0-d device arrays) summed over the processes."""
        local = [float(v if isinstance(v, (int, float)) else to_numpy(v)) for v in values]
        if not self.active:
            return local
        return self.comm.reduce_host(host.array(local, host.float64)).tolist()

    def min_count(self, value):
        """The smallest of `value` (an integer count) over the processes."""
        local = int(to_numpy(value))
        if not self.active:
            return local
        return int(self.comm.reduce_host(host.array([local], host.int64), op="min")[0])

    def agree(self, value):
        """Rank 0's `value` (host data) on every process: for choices all must make alike."""
        return self.comm.bcast_object(value) if self.active else value

    # -- start, epoch ends, failures -------------------------------------------------------------
    def start(self, optimizer, scheduler=None, loader=None, load=None):
        """Give every process rank 0's weights, buffers, optimizer, scheduler and loader state and host
        random state, after `load()` (a checkpoint load, run on rank 0 only) if given; returns what
        `load()` returned, on every process. Then each process's dropout draws its own stream."""
        if not self.active:
            return load() if load is not None else None
        state = None
        if self.writer:
            info = load() if load is not None else None
            parts = {"model": self.model, "optimizer": optimizer, "scheduler": scheduler, "loader": loader}
            state = {name: obj.state_dict() for name, obj in parts.items() if obj is not None}
            state.update(info=info, rng=get_rng_state())
        state = self.comm.bcast_object(state)
        if not self.writer:
            for name, obj in (("model", self.model), ("optimizer", optimizer), ("scheduler", scheduler),
                              ("loader", loader)):
                if obj is not None:
                    obj.load_state_dict(state[name])
            set_rng_state(state["rng"])
        stream = host.random.SeedSequence([int(rng().integers(2**63)), self.comm.rank])
        seed(int(stream.generate_state(1, host.uint64)[0] >> 1))
        return state["info"]

    def end_epoch(self, epoch):
        """Give every process rank 0's buffers, then check that every copy of the model is the same:
        ReplicasDiffer (on every process) otherwise."""
        if not self.active:
            return
        entries = list(self.model.named_buffers())
        for _, buf in entries:
            self.comm.bcast(buf)
        digest = hashlib.sha256()
        for array in [p.data for p in self.model.parameters()] + [b for _, b in entries]:
            digest.update(host.ascontiguousarray(to_numpy(array)).tobytes())
        mine = digest.hexdigest()
        differ = self.comm.reduce_host(host.array([mine != self.comm.bcast_object(mine)], host.int64))[0]
        if differ:
            raise ReplicasDiffer(f"after epoch {epoch} the model on {differ} of {self.comm.size} processes differs "
                                 "from process 0's: the processes did not run the same steps")

    def fail_together(self, prog="xpnet", collective=()):
        """A context in which an error on one process ends all (faults.fail_together); ReplicasDiffer and
        `collective` errors, raised on every process alike, pass through."""
        return fail_together(self.comm, prog, (ReplicasDiffer, *collective))
