"""Tolerances and the comparison of two results (dicts of named host arrays).

All parity tolerances live here.

Why these numbers
-----------------
CPU (NumPy + OpenBLAS/MKL) and GPU (CuPy + cuBLAS/CUB) evaluate the same
formulas but sum in different orders, so results differ by rounding only.
A sum of K terms in floating point carries an error of at most about
K * eps * sum|terms| and, for the blocked/pairwise orders both sides use,
typically about sqrt(K) * eps * sum|terms|. Hence:

* float64: one fixed rtol of 1e-10. eps64 = 2.2e-16, so even K = 1e5 summed
  naively stays below 2.2e-11; 1e-10 is the precision the rest of xpnet's tests
  use against PyTorch and still catches any real bug (wrong index, missing term,
  float32 round trip: those are 1e-7 or larger).
* float32: rtol = C32 * eps32 * sqrt(K) * depth. K is the longest reduction the
  case performs (a conv's in/groups*kh*kw, a matmul's inner size, a batch-norm's
  N*H*W, a weight gradient's N*Ho*Wo), computed from each case's component and
  shapes by reduction.py. `depth` counts chained steps that let rounding build
  up (training steps, optimizer steps).
  C32 = 16 leaves room for the worst-case K-vs-sqrt(K) gap on short sums and for
  transcendental functions (exp, tanh, erf) that differ by a few ulps between
  libm and CUDA's math library. A planted error of a few times this rtol fails.
* TF32 (only with --allow-tf32): cuBLAS rounds matmul inputs to 10 mantissa
  bits, so eps becomes 2**-10 in the float32 formula.

How an error is measured
------------------------
Rounding error in a reduction scales with the size of the summands, not of the
result, so an output that cancels to near zero can carry an error far above
its own magnitude. Each element's error is therefore taken relative to
``|reference| + scale``, where scale is the larger of the quantity's RMS and
the median RMS of all the case's quantities: plain relative error for large
elements, error relative to a typical magnitude for small ones. The case-wide
part matters for quantities that are zero in exact arithmetic and so hold only
rounding noise on both sides, such as the gradient of a bias that feeds a
BatchNorm. A quantity passes when this relative error is at most rtol
everywhere. Shapes and dtypes must match exactly; any NaN or infinity fails.
"""
import math
from dataclasses import asdict, dataclass

import numpy as host  # comparison of host copies of both sides' results

F64_RTOL = 1e-10
C32 = 16.0
EPS32 = float(host.finfo(host.float32).eps)
EPS_TF32 = 2.0 ** -10


def tolerance(dtype, k=1, depth=1, allow_tf32=False):
    """The rtol for results of `dtype` from reductions of length `k`, chained `depth` times."""
    dt = host.dtype(dtype)
    if dt == host.float64:
        return F64_RTOL
    if dt != host.float32:
        raise ValueError(f"parity tolerance: expected float32 or float64, got {dt}")
    eps = EPS_TF32 if allow_tf32 else EPS32
    return C32 * eps * math.sqrt(max(int(k), 1)) * max(int(depth), 1)


@dataclass
class Row:
    """One compared quantity: errors, the tolerance and the verdict ("pass", "FAIL" or "skip")."""

    case: str
    quantity: str
    max_abs: float
    max_rel: float
    rtol: float
    status: str
    note: str = ""

    @property
    def passed(self):
        return self.status != "FAIL"

    def as_dict(self):
        return asdict(self)


def rms(a):
    a = host.asarray(a, dtype=host.float64)
    return math.sqrt(float(host.mean(a * a))) if a.size else 0.0


def errors(actual, reference, floor=0.0):
    """(max abs error, max relative error) of `actual` against `reference`, measured as described above;
    `floor` is the case-wide lower bound of the scale."""
    a = host.asarray(actual, dtype=host.float64)
    r = host.asarray(reference, dtype=host.float64)
    if a.size == 0:
        return 0.0, 0.0
    err = host.abs(a - r)
    scale = max(rms(r), floor, float(host.finfo(host.float64).tiny))
    rel = err / (host.abs(r) + scale)
    return float(err.max()), float(rel.max())


def compare_arrays(case, quantity, actual, reference, rtol, floor=0.0):
    """A `Row` for one named array: fails on shape, dtype, non-finite values or error above `rtol`."""
    a, r = host.asarray(actual), host.asarray(reference)
    nan = float("nan")
    if a.shape != r.shape:
        return Row(case, quantity, nan, nan, rtol, "FAIL", f"shape {a.shape} != {r.shape}")
    if a.dtype != r.dtype:
        return Row(case, quantity, nan, nan, rtol, "FAIL", f"dtype {a.dtype} != {r.dtype}")
    if a.dtype.kind in "fc":
        bad = [side for side, v in (("result", a), ("reference", r)) if not host.isfinite(v).all()]
        if bad:
            return Row(case, quantity, nan, nan, rtol, "FAIL", f"non-finite values in the {' and '.join(bad)}")
    elif not host.array_equal(a, r):  # integers, booleans: exact
        return Row(case, quantity, nan, nan, 0.0, "FAIL", "integer values differ")
    max_abs, max_rel = errors(a, r, floor)
    return Row(case, quantity, max_abs, max_rel, rtol, "pass" if max_rel <= rtol else "FAIL")


def compare_results(case, actual, reference, rtol):
    """Rows comparing two dicts of named host arrays; a name on one side only is a failure."""
    rows = []
    nan = float("nan")
    floor = case_scale(reference)
    for name in reference:
        if name not in actual:
            rows.append(Row(case, name, nan, nan, rtol, "FAIL", "missing from the result"))
        else:
            rows.append(compare_arrays(case, name, actual[name], reference[name], rtol, floor))
    rows += [Row(case, name, nan, nan, rtol, "FAIL", "missing from the reference")
             for name in actual if name not in reference]
    return rows


def case_scale(results):
    """The median RMS of a case's finite float quantities: the floor of every quantity's error scale."""
    sizes = [rms(v) for v in map(host.asarray, results.values())
             if v.dtype.kind == "f" and v.size and host.isfinite(v).all()]
    return float(host.median(sizes)) if sizes else 0.0
