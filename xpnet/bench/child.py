"""Running `python -m xpnet.bench ...` in a child process: the memory runs and the `--threads` re-run.

The child finds this copy of xpnet even when it is not installed, because the
folder holding the `xpnet` package goes first on its PYTHONPATH.
"""
import os
import subprocess
import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[2])


def run_bench(argv, env=None, capture=False):
    """Run the benchmark with `argv` in a fresh interpreter; `env` adds variables. Returns CompletedProcess."""
    full = dict(os.environ, **(env or {}))
    full["PYTHONPATH"] = os.pathsep.join(p for p in (_ROOT, full.get("PYTHONPATH")) if p)
    return subprocess.run([sys.executable, "-m", "xpnet.bench", *argv], env=full, capture_output=capture, text=True)
