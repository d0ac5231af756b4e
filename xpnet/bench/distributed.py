"""Data-parallel speed: one process with every core against one process per core, and a scaling model.

`distributed` runs each configuration in its own job (a child process, or `mpiexec -n N` children),
alternating the configurations repetition by repetition so a slow spell of the machine falls on both.
A job times `DataParallel` steps (the Trainer's: forward, backward of the summed loss, one packed
allreduce, Adam) on its part of one fixed global batch; the step time is the slowest process's, the
allreduce time each process's mean (it includes waiting for the slower process).

`scaling` predicts the efficiency of N workers that each keep this machine's step at the per-worker
batch (weak scaling), with the gradient sent by a ring allreduce that does not overlap backward:
    t_allreduce(N) = 2 (N-1)/N * bytes / bandwidth + 2 (N-1) * latency,   efficiency = t / (t + t_allreduce).
"""
import json
import math
import os
import statistics
import subprocess
import sys
import time

import numpy as host  # host-side timing reductions

from .. import backend, environment
from ..backend import synchronize
from ..distributed import DataParallel, world, workers
from ..losses import SoftmaxCrossEntropy
from ..optim import Adam
from .context import fields
from .timing import Timing
from .training import batch, build, xpnet_step

# (name, bytes per second one way, latency per message in seconds): typical figures, stated in the table's note
NETWORKS = (("10 Gbit/s Ethernet", 1.25e9, 50e-6), ("100 Gbit/s Ethernet", 12.5e9, 10e-6),
            ("InfiniBand HDR 200 Gbit/s", 25e9, 2e-6), ("NVLink (NCCL)", 150e9, 10e-6))
WORKERS = (2, 4, 8, 16, 32, 64)


def ring_allreduce_seconds(nbytes, workers, bandwidth, latency):
    """Seconds for a ring allreduce of `nbytes` over `workers`: each sends and receives 2(N-1)/N of the buffer
    in 2(N-1) messages (reduce-scatter, then all-gather)."""
    if workers <= 1:
        return 0.0
    return 2 * (workers - 1) / workers * nbytes / bandwidth + 2 * (workers - 1) * latency


def efficiency(step_seconds, nbytes, workers, bandwidth, latency):
    """Predicted share of the ideal N-fold speed-up when the allreduce follows the backward pass."""
    return step_seconds / (step_seconds + ring_allreduce_seconds(nbytes, workers, bandwidth, latency))


def gradient_bytes(model):
    """Bytes of DataParallel's packed buffer: every parameter and the denominator, in the parameters' dtype."""
    params = model.parameters()
    return (sum(p.data.size for p in params) + 1) * params[0].data.dtype.itemsize


# -- the job's side: under mpiexec, or alone ----------------------------------------------------------

def child(model_name, global_batch, repeat, warmup, min_time):
    """Time DataParallel steps on this process's part of a global batch; process 0 prints one JSON line."""
    comm = world()
    model, _ = build(model_name)
    model.train()
    model.needs_input_grad = False
    loss, optimizer = SoftmaxCrossEntropy(), Adam(model.parameters())
    parallel = DataParallel(comm, model, loss)
    parallel.start(optimizer)
    backend.seed(1)  # the same global batch on every process
    x, y = batch(global_batch)
    lo, hi = comm.rank * global_batch // comm.size, (comm.rank + 1) * global_batch // comm.size
    x, y = x[lo:hi], y[lo:hi]
    spent = [0.0]

    def reduce():
        synchronize()
        start = time.perf_counter()
        parallel.reduce_gradients()
        synchronize()
        spent[0] += time.perf_counter() - start

    def one():
        optimizer.zero_grad()
        loss(model(x), y)
        model.backward(parallel.loss_gradient())
        reduce()
        optimizer.step()

    for _ in range(max(1, warmup)):
        one()
    synchronize()
    start = time.perf_counter()
    one()
    synchronize()
    steps = parallel.agree(max(1, math.ceil(min_time / max(time.perf_counter() - start, 1e-9))))
    step_s, allreduce_s = [], []
    for _ in range(repeat):
        comm.barrier()
        spent[0] = 0.0
        start = time.perf_counter()
        for _ in range(steps):
            one()
        synchronize()
        elapsed = time.perf_counter() - start
        step_s.append(parallel.comm.reduce_host(host.array([elapsed / steps]), op="max")[0])
        allreduce_s.append(parallel.sum_counts(spent[0] / steps)[0] / comm.size)
    if comm.rank == 0:
        print(json.dumps({"step_s": step_s, "allreduce_s": allreduce_s, "bytes": gradient_bytes(model),
                          "processes": comm.size}), flush=True)
    return 0


# -- the parent's side ----------------------------------------------------------------------------

def _job(ctx, model_name, global_batch, processes, threads):
    """The command and environment of one timing job: `processes` processes with `threads` threads each."""
    args = ["-m", "xpnet", "bench", "--backend", ctx.backend, "--distributed-child", model_name, "--batch-sizes",
            str(global_batch), "--repeat", "1", "--warmup", str(ctx.warmup), "--min-time", str(ctx.min_time)]
    env = dict(os.environ, **{name: str(threads) for name in environment.THREAD_VARIABLES})
    if processes == 1:
        return [sys.executable, *args], env
    return workers.command(processes, args, workers.find_mpiexec()), env


def _run(command, env):
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"distributed benchmark job {' '.join(command)} failed (exit status {result.returncode}):"
                           f"\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def run(ctx, models, batch_sizes):
    """One process with all cores against one process per core (at least 2), per model and global batch."""
    if workers.find_mpiexec() is None or not workers.has_mpi4py():
        print(f"xpnet bench: distributed section skipped: it needs mpi4py and an mpiexec: {workers.INSTALL}",
              file=sys.stderr)
        return []
    cores = ctx.threads or environment.cores()
    ranks = max(2, cores)
    configs = ((1, cores), (ranks, max(1, cores // ranks)))
    rows = []
    for name in models:
        for n in batch_sizes:
            jobs = [_job(ctx, name, n, p, t) for p, t in configs]
            results = [[] for _ in configs]
            for rep in range(ctx.repeat):  # alternate which configuration runs first
                order = range(len(configs)) if rep % 2 == 0 else reversed(range(len(configs)))
                for i in order:
                    results[i].append(_run(*jobs[i]))
            one = [r["step_s"][0] for r in results[0]]
            for (processes, threads), runs in zip(configs, results):
                steps = [r["step_s"][0] for r in runs]
                t = Timing.of(steps)
                allreduce = statistics.median([r["allreduce_s"][0] for r in runs])
                nbytes = runs[0]["bytes"]
                rows.append({"backend": ctx.backend, "model": name, "batch": n, "processes": processes,
                             "threads": threads, **fields(t, "xpnet_"), "xpnet_images_per_s": n / t.median,
                             "allreduce_ms": allreduce * 1e3 if processes > 1 else None,
                             "allreduce_pct": 100 * allreduce / t.median if processes > 1 else None,
                             "buffer_kb": nbytes / 1024,
                             "sent_kb": 2 * (processes - 1) / processes * nbytes / 1024 if processes > 1 else None,
                             "speedup": statistics.median([a / b for a, b in zip(one, steps)])})
    return rows


def scaling(ctx, models, batch_sizes):
    """The ring-allreduce model's efficiency for 2..64 workers, from this machine's one-process step time at
    each per-worker batch and the model's gradient size."""
    rows = []
    for name in models:
        for n in batch_sizes:
            model, _ = build(name)
            x, y = batch(n)
            step = xpnet_step(model)
            t, _ = ctx.time(lambda: step(x, y))
            nbytes = gradient_bytes(model)
            for network, bandwidth, latency in NETWORKS:
                row = {"backend": ctx.backend, "model": name, "batch": n, "xpnet_ms": t.median * 1e3,
                       "buffer_kb": nbytes / 1024, "network": network}
                row.update({f"eff_{w}": 100 * efficiency(t.median, nbytes, w, bandwidth, latency) for w in WORKERS})
                rows.append(row)
    return rows
