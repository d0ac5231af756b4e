"""Running `mpiexec -n N python ...` from a test: with this checkout importable, a timeout, and a skip (a
failure under CI=true) where mpi4py or an mpiexec is missing."""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from xpnet.distributed import workers

ROOT = Path(__file__).resolve().parents[1]


def missing():
    """Why processes cannot be started under MPI here, or None."""
    if importlib.util.find_spec("mpi4py") is None:
        return "mpi4py is not installed"
    if workers.find_mpiexec() is None:
        return "no mpiexec beside this Python or on PATH"
    return None


def mpirun(n, *args, timeout=120, cwd=None, label=False, paths=()):
    """`mpiexec -n n python args...` with this checkout, tests/ and `paths` importable; the CompletedProcess.
    `label` prefixes each output line with its process's rank ("[1] ...", MPICH's -l)."""
    why = missing()
    if why and os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but processes cannot start under MPI: {why} (.ci/run installs mpi4py and mpich)",
                    pytrace=False)
    if why:
        pytest.skip(f"test under MPI skipped: {why} (pip install mpi4py mpich)")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests"), *map(str, paths)]))
    command = [workers.find_mpiexec(), "-n", str(n)] + (["-l"] if label else []) + [sys.executable, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)


def ok(result):
    """`result` of a command that must have succeeded (else its output in the assertion)."""
    assert result.returncode == 0, f"exit status {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result
