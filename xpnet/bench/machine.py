"""What the benchmark ran on: CPU, threads, versions, and the measured matrix-product peak."""
import datetime
import os
import platform

from ..backend import asarray, info, rng, synchronize
from .timing import measure

BLAS_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def blas_threads():
    """NumPy's BLAS thread count as set in the environment (read once, when NumPy loads)."""
    for var in BLAS_THREAD_VARS:
        if os.environ.get(var):
            return f"{os.environ[var]} ({var})"
    return f"{os.cpu_count()} (BLAS default: all cores)"


def describe(torch=None):
    """A dict naming the machine, the current backend, the thread counts and the libraries' versions."""
    out = dict(info())
    out["date"] = datetime.date.today().isoformat()
    out["host"] = platform.node()
    out["numpy_blas_threads"] = blas_threads()
    if torch is not None:
        out["torch"] = torch.__version__
        out["torch_threads"] = torch.get_num_threads()
        if out["backend"] == "gpu" and torch.cuda.is_available():
            out["torch_cuda"] = torch.version.cuda
    return out


def matmul_peak(n=2048, repeat=5):
    """Measured float32 GFLOP/s of an n x n matrix product on the current backend."""
    a, b = (asarray(rng().standard_normal((n, n)), "float32") for _ in range(2))
    t = measure(lambda: a @ b, sync=synchronize, repeat=repeat)
    return 2 * n ** 3 / t.median / 1e9
