"""What the benchmark ran on: CPU, threads, versions, and the measured matrix-product peak."""
import datetime
import os
import platform

from ..backend import asarray, info, rng, synchronize
from .timing import measure


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe(torch=None):
    """A dict naming the machine, the backend and the libraries' versions."""
    out = dict(info())
    out["cpu"] = _cpu_model()
    out["date"] = datetime.date.today().isoformat()
    out["host"] = platform.node()
    out["blas_threads"] = os.environ.get("OMP_NUM_THREADS") or os.environ.get("OPENBLAS_NUM_THREADS") or "default"
    if torch is not None:
        out["torch"] = torch.__version__
        out["torch_threads"] = torch.get_num_threads()
    return out


def matmul_peak(n=2048, repeat=5):
    """Measured float32 GFLOP/s of an n x n matrix product on the current backend."""
    a, b = (asarray(rng().standard_normal((n, n)), "float32") for _ in range(2))
    t = measure(lambda: a @ b, sync=synchronize, repeat=repeat)
    return 2 * n ** 3 / t.median / 1e9
