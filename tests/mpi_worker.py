"""One process of the data-parallel tests (tests/test_distributed.py), started by `mpiexec -n N python
tests/mpi_worker.py MODE ...`; `train(...)` is also called in the test process as the one-process reference.

Modes:
  train    train a small CNN (optionally with batch norm, synchronised or not) on random images, with an
           uneven last batch and random shifts; rank 0 writes the weights and buffers to --save (.npz)
  syncbn   SyncBatchNorm on this rank's part of a batch; rank 0 gathers outputs and gradients to --save
  fail     train, and on rank --rank raise (or SIGKILL itself) at step --step
  desync   train, with one of rank 1's summed gradients changed a little after one allreduce
"""
import argparse
import os
import signal
import sys

import numpy as np

from xpnet import backend
from xpnet.data import DataLoader
from xpnet.distributed import SingleProcess, convert_sync_batchnorm, world
from xpnet.layers import BatchNorm2D, Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sequential
from xpnet.losses import SoftmaxCrossEntropy
from xpnet.optim import SGD
from xpnet.train import Trainer

SAMPLES, BATCH, SIDE, CLASSES = 37, 8, 8, 3  # batches of 8, 8, 8, 8 and 5
STEPS_PER_EPOCH = -(-SAMPLES // BATCH)
LONGEST_SUM = BATCH * SIDE * SIDE  # the first convolution's weight gradient: every pixel of the batch
U64 = np.finfo(np.float64).eps / 2  # float64's unit roundoff


def data():
    gen = np.random.default_rng(11)
    x = gen.standard_normal((SAMPLES, 1, SIDE, SIDE))
    return x.astype(backend.get_default_dtype()), gen.integers(0, CLASSES, SAMPLES)


def model(norm):
    """conv 3x3 (batch norm) - relu - max-pool - dense: the layers whose gradients are long sums."""
    backend.seed(3)
    layers = [Conv2D(1, 4, 3, padding=1, bias=norm == "none")]
    layers += [BatchNorm2D(4)] if norm != "none" else []
    layers += [ReLU(), MaxPool2D(2), Flatten(), Dense(4 * (SIDE // 2) ** 2, CLASSES)]
    return Sequential(*layers)


def train(comm, norm="none", epochs=2, dtype="float64", run_dir=None, resume=False, every_step=None):
    """Train with `comm` (all processes alike); returns the model. `every_step(step)` runs before each step."""
    with backend.default_dtype(dtype):
        x, y = data()
        net = model(norm)
        if norm == "sync":
            net = convert_sync_batchnorm(net, comm)
        optimizer = SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
        trainer = Trainer(net, SoftmaxCrossEntropy(), optimizer, comm=comm)
        loader = DataLoader(x, y, BATCH, seed=5, shift=1, rank=comm.rank, world_size=comm.size)
        if every_step is not None:
            step, plain = [0], trainer._step

            def counted(xb, yb, meter):
                step[0] += 1
                every_step(step[0])
                plain(xb, yb, meter)
            trainer._step = counted
        val = DataLoader(x, y, 10, shuffle=False, rank=comm.rank, world_size=comm.size)
        history = trainer.fit(loader, val_loader=val, epochs=epochs, out_dir=run_dir, resume=resume, verbose=False)
    return net, history


def outcome(net, history):
    """What a training run is compared by: the weights and buffers, and the per-epoch losses and accuracies."""
    return {**net.state_dict(), **{k: np.array(history[k]) for k in ("train_loss", "val_loss", "val_acc")}}


def assert_same_training(got, want, start, steps, n, u):
    """Every array of `got` equals `want`'s within steps * n * u of the largest change from `start`."""
    assert sorted(got) == sorted(want)
    for key in want:
        change = np.abs(want[key] - start[key]).max() if key in start else np.abs(want[key]).max()
        np.testing.assert_allclose(got[key], want[key], rtol=0, atol=steps * n * u * max(change, 1e-300),
                                   err_msg=key)


def reference(norm="none", epochs=2):
    """One process's `outcome` (plain batch norm where the processes synchronise theirs)."""
    return outcome(*train(SingleProcess(), "plain" if norm == "sync" else norm, epochs))


def initial(norm="none"):
    """The weights training starts from."""
    with backend.default_dtype("float64"):
        return model("plain" if norm == "sync" else norm).state_dict()


def sync_bn(comm, rows):
    """SyncBatchNorm on this rank's `rows` of a float64 batch: its output, input gradient and the
    parameter gradients (summed over ranks), and the running statistics."""
    with backend.default_dtype("float64"):
        gen = np.random.default_rng(2)
        x = gen.standard_normal((10, 3, 4, 5)) * 2 + 1
        dy = gen.standard_normal(x.shape)
        from xpnet.distributed import SyncBatchNorm
        bn = SyncBatchNorm(3, comm=comm)
        bn.weight.data[...] = backend.asarray([0.5, 1.5, -1.0])
        bn.bias.data[...] = backend.asarray([0.1, 0.0, -0.2])
        part = slice(*rows)
        y = bn(backend.asarray(x[part]))
        dx = bn.backward(backend.asarray(dy[part]))
        grads = np.concatenate([backend.to_numpy(bn.weight.grad), backend.to_numpy(bn.bias.grad)])
        return {"y": backend.to_numpy(y), "dx": backend.to_numpy(dx), "grads": comm.reduce_host(grads),
                "running_mean": backend.to_numpy(bn.running_mean), "running_var": backend.to_numpy(bn.running_var)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=("train", "syncbn", "fail", "desync"))
    parser.add_argument("--save")
    parser.add_argument("--norm", default="none", choices=("none", "plain", "sync"))
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--dtype", default="float64")
    parser.add_argument("--run-dir")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--rank", type=int, default=1)
    parser.add_argument("--step", type=int, default=3)
    parser.add_argument("--kill", action="store_true")
    args = parser.parse_args()
    comm = world()
    if args.mode == "syncbn":
        bounds = np.linspace(0, 10, comm.size + 1).astype(int)
        out = sync_bn(comm, (bounds[comm.rank], bounds[comm.rank + 1]))
        gathered = getattr(comm, "mpi", comm).comm.gather(out, root=0) if comm.size > 1 else [out]
        if comm.rank == 0:
            merged = {k: np.concatenate([g[k] for g in gathered]) for k in ("y", "dx")}
            merged.update({k: out[k] for k in ("grads", "running_mean", "running_var")})
            np.savez(args.save, **merged)
        return 0
    def planted(step):
        if comm.rank == args.rank and step == args.step:
            if args.kill:
                os.kill(os.getpid(), signal.SIGKILL)
            raise ValueError(f"planted failure at step {step}")
    if args.mode == "desync" and comm.rank == 1:
        plain = comm.allreduce
        calls = [0]

        def perturbing(array, op="sum"):
            calls[0] += 1
            plain(array, op)
            if calls[0] == 2:
                array[0] += 1e-9
            return array
        comm.allreduce = perturbing
    net, history = train(comm, args.norm, args.epochs, args.dtype, args.run_dir, args.resume,
                         planted if args.mode == "fail" else None)
    if comm.rank == 0 and args.save:
        np.savez(args.save, **outcome(net, history))
    return 0


if __name__ == "__main__":
    sys.exit(main())
