"""Running `python -m xpnet bench ...` in a child process: the memory runs and the `--threads` re-run."""
import os
import subprocess
import sys


def run_bench(argv, env=None, capture=False):
    """Run the benchmark with `argv` in a fresh interpreter; `env` adds variables. Returns CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "xpnet", "bench", *argv], env=dict(os.environ, **(env or {})),
                          capture_output=capture, text=True)
