"""Peak memory of a short training run (batch 128) of each model, one fresh child process per framework.

The child builds the model and a batch, notes its resident set size (RSS) as the
baseline, trains a few steps and reports its peak RSS (see `peak_rss`). A separate
process per framework keeps one framework's allocations out of the other's peak.
On the GPU it also reports the device memory the framework's allocator holds:
CuPy's memory pool (`total_bytes()`) for xpnet, `torch.cuda.max_memory_reserved()`
for PyTorch.
"""
import importlib
import itertools
import json
import os
import resource
import sys

from .. import backend
from .child import run_bench
from .context import Context
from .training import batch, build, torch_step, xpnet_step

MIB = 2 ** 20


def _proc_status(field):
    """A "kB" field of /proc/self/status in bytes, or None off Linux."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def peak_rss():
    """Peak resident set size of this process in bytes.

    Linux's VmHWM where there is one: `ru_maxrss` of a freshly started child also
    counts the parent's resident size at the fork, which would swamp the measurement.
    Elsewhere `ru_maxrss` (KiB on Linux, bytes on macOS).
    """
    peak = _proc_status("VmHWM")
    if peak is not None:
        return peak
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def current_rss():
    """Resident set size now in bytes (VmRSS on Linux; elsewhere the peak so far)."""
    now = _proc_status("VmRSS")
    return peak_rss() if now is None else now


def _device_pool(torch):
    """Bytes the framework's GPU allocator holds, or None on the CPU."""
    if backend.current() != "gpu":
        return None
    if torch is not None:
        return torch.cuda.max_memory_reserved()
    return backend.registry.state.module.get_default_memory_pool().total_bytes()


def child(framework, model_name="lenet5", steps=20, batch_size=128, threads=None):
    """The child side: train `steps` steps of `model_name` with `framework` ("xpnet" or "torch"), print one
    JSON line."""
    torch = None
    if framework == "torch":
        torch = importlib.import_module("torch")
        torch.set_num_threads(threads or os.cpu_count())
    ctx = Context(backend.current(), torch)
    model, twin = build(model_name, ctx)
    x, y = batch(batch_size)
    if torch is None:
        step, sync = xpnet_step(model), backend.synchronize
    else:
        step, x, y = torch_step(torch, twin), ctx.tensor(x), ctx.tensor(y)
        sync = ctx.torch_sync
    sync()
    baseline = current_rss()
    for _ in range(steps):
        step(x, y)
    sync()
    print(json.dumps({"framework": framework, "baseline_rss": baseline, "peak_rss": peak_rss(),
                      "device_pool": _device_pool(torch)}))
    return 0


def run(ctx, models=("lenet5",), steps=20):
    """Rows of peak memory per model and framework, each measured in its own child process."""
    rows = []
    for name, framework in itertools.product(models, ("xpnet", "torch") if ctx.torch is not None else ("xpnet",)):
        argv = ["--memory-child", framework, "--models", name, "--backend", ctx.backend, "--memory-steps", str(steps)]
        if ctx.threads:
            argv += ["--threads", str(ctx.threads)]
        done = run_bench(argv, capture=True)
        if done.returncode != 0:
            raise RuntimeError(f"memory child for {framework} failed: {done.stderr.strip()[-800:]}")
        r = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append({"backend": ctx.backend, "framework": framework, "model": name, "batch": 128,
                     "steps": steps, "baseline_mib": r["baseline_rss"] / MIB, "peak_mib": r["peak_rss"] / MIB,
                     "training_mib": (r["peak_rss"] - r["baseline_rss"]) / MIB,
                     "gpu_pool_mib": None if r["device_pool"] is None else r["device_pool"] / MIB})
    return rows
