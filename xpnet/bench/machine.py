"""What the benchmark ran on: CPU, threads, versions, and the measured matrix-product peak."""
import datetime
import os
import platform

from ..backend import asarray, info, rng, synchronize, threads
from ..environment import BLAS_THREAD_VARIABLES
from .timing import measure


def blas_threads():
    """NumPy's BLAS thread count as set in the environment (read once, when NumPy loads)."""
    for var in BLAS_THREAD_VARIABLES:
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


# Variables that make NumPy's loops and PyTorch's kernels use fewer instruction sets than the CPU has (an
# AVX2-only machine emulated on an AVX-512 one); the header names those set.
SIMD_VARS = ("NPY_DISABLE_CPU_FEATURES", "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA")


def simd_in_use(torch=None):
    """The instruction sets NumPy's own loops dispatch to (its runtime report), PyTorch's kernel level, and
    the variables that restrict them when set."""
    out = {}
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
        out["numpy_simd"] = " ".join(t for t in __cpu_dispatch__ if __cpu_features__.get(t)) or "baseline"
    except ImportError:  # a private module of NumPy 2, as numpy.show_runtime reads it
        pass
    if torch is not None:
        out["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    forced = [f"{v}={os.environ[v]}" for v in SIMD_VARS if os.environ.get(v)]
    if forced:
        out["simd_forced_by"] = ", ".join(forced)
    return out


def describe(torch=None):
    """A dict naming the machine, the current backend, the thread counts and the libraries' versions."""
    out = dict(info())
    out["date"] = datetime.date.today().isoformat()
    out["host"] = platform.node()
    out["numpy_blas_threads"] = blas_threads()
    out.update(blas_in_use())
    out.update(simd_in_use(torch))
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
