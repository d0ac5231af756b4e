"""What the benchmark ran on: CPU, threads, versions, and the measured matrix-product peak."""
import datetime
import os
import platform

from ..backend import asarray, info, rng, synchronize, threads
from .timing import measure

BLAS_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def blas_threads():
    """NumPy's BLAS thread count as set in the environment (read once, when NumPy loads)."""
    for var in BLAS_THREAD_VARS:
        if os.environ.get(var):
            return f"{os.environ[var]} ({var})"
    return f"{os.cpu_count()} (BLAS default: all cores)"


def blas_in_use():
    """The BLAS library NumPy really runs, its kernel and thread count, as threadpoolctl reads them from the
    loaded library (environment variables such as OPENBLAS_CORETYPE change the kernel), and the variables
    that force a kernel when they are set."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return {"numpy_blas_kernel": "unknown (pip install threadpoolctl to see it)"}
    pools = [p for p in threadpool_info() if p.get("user_api") == "blas" and "numpy" in p.get("filepath", "")]
    out = {}
    if pools:
        pool = pools[0]
        kernel = pool.get("architecture") or "kernel unknown"
        out["numpy_blas_kernel"] = f"{pool.get('internal_api')} {pool.get('version')}, {kernel}, " \
                                   f"{pool.get('num_threads')} threads"
    forced = {v: os.environ[v] for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if os.environ.get(v)}
    if forced:
        out["blas_forced_by"] = ", ".join(f"{k}={v}" for k, v in forced.items())
    return out


def describe(torch=None):
    """A dict naming the machine, the current backend, the thread counts and the libraries' versions."""
    out = dict(info())
    out["date"] = datetime.date.today().isoformat()
    out["host"] = platform.node()
    out["numpy_blas_threads"] = blas_threads()
    out.update(blas_in_use())
    out["xpnet_cpu_threads"] = threads.count()
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
