"""CPU/GPU parity: the same layers, losses, optimizers and models on NumPy and on CuPy must agree.

`run_case`/`run_all` compare cases from `catalogue()`; `compare` holds the tolerances, `table`
renders the results (the command line, `xpnet parity`, is xpnet/cli/parity.py). See `compare.py` for why the tolerances are what they are.
"""
from .case import Case
from .cases import catalogue
from .compare import Row, compare_arrays, compare_results, errors, tolerance
from .runner import check_tf32, gpu_asked_for, gpu_status, run_all, run_case, run_side, tf32_allowed

__all__ = ["Case", "Row", "catalogue", "check_tf32", "compare_arrays", "compare_results", "errors", "gpu_asked_for",
           "gpu_status", "run_all", "run_case", "run_side", "tf32_allowed", "tolerance"]
