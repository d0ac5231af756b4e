"""Run a case on two backends with the same seed and host-made inputs, and compare what came back.

The reference side is always the CPU. The other side is the GPU for real parity
checks, or the CPU again for the self-test, which proves on any machine that the
catalogue runs and is deterministic.
"""
import re

import numpy as host  # results are compared as host copies

from .. import backend, environment
from ..backend import registry
from ..environment import flag
from .compare import Row, compare_results, tolerance

TF32_ENV = "CUPY_TF32"
ALLOW_TF32_ENV = "XPNET_PARITY_ALLOW_TF32"


def tf32_allowed(allow=False):
    """True when TF32 was allowed by `--allow-tf32` or XPNET_PARITY_ALLOW_TF32=1."""
    return bool(allow) or environment.parity_allow_tf32()


def check_tf32(allow=False):
    """Raise RuntimeError when CUPY_TF32=1 is set and TF32 was not explicitly allowed.

    TF32 matmuls keep only 10 mantissa bits, so float32 results would miss the
    float32 tolerances for reasons that are no bug of xpnet's.
    """
    if flag(TF32_ENV) and not tf32_allowed(allow):
        raise RuntimeError(f"{TF32_ENV}=1 makes CuPy use TF32 matmuls (10-bit mantissa), which float32 parity "
                           f"cannot meet; unset it, or pass --allow-tf32 (or {ALLOW_TF32_ENV}=1) to loosen "
                           "the float32 tolerances")


def gpu_status():
    """(True, "") when the gpu backend loads, else (False, the reason it does not)."""
    try:
        registry.load("gpu")
    except RuntimeError as exc:
        return False, str(exc)
    return True, ""


def gpu_asked_for(markexpr="", environ=None):
    """True when the GPU was requested explicitly: XPNET_BACKEND=gpu, or pytest `-m` selecting `gpu`.

    Then a missing CuPy or device is a failure, not a reason to skip.
    """
    if environment.backend(environ) == "gpu":
        return True
    words = re.findall(r"\w+", markexpr or "")
    return any(w == "gpu" and (i == 0 or words[i - 1] != "not") for i, w in enumerate(words))


def run_side(case, side):
    """Run `case` on backend `side` from a fresh seed; return its results as host NumPy copies."""
    with backend.using(side), backend.default_dtype(case.dtype):
        backend.seed(case.seed)
        results = case.run(host.random.default_rng(case.seed + 1))
        return {name: host.array(backend.to_numpy(value)) for name, value in results.items()}


def run_case(case, sides=("cpu", "gpu"), allow_tf32=False):
    """Rows comparing `case` run on sides[1] against sides[0]; an exception becomes one failing row."""
    rtol = tolerance(case.dtype, case.k, case.depth, allow_tf32=allow_tf32)
    try:
        reference = run_side(case, sides[0])
        result = run_side(case, sides[1])
    except Exception as exc:  # a broken component must show up as a failed row, not stop the run
        return [Row(case.label, "(run)", float("nan"), float("nan"), rtol, "FAIL", f"{type(exc).__name__}: {exc}")]
    return compare_results(case.label, result, reference, rtol)


def run_all(cases, sides=("cpu", "gpu"), only=None, allow_tf32=False):
    """Rows for every case whose label contains `only` (case-insensitive; all when None)."""
    rows = []
    for case in cases:
        if only and only.lower() not in case.label.lower():
            continue
        rows += run_case(case, sides, allow_tf32)
    return rows
