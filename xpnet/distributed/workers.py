"""`--workers N`: the one-machine shortcut for `mpiexec -n N python -m mpi4py -m xpnet ...`.

The command re-runs itself under mpiexec, found beside the Python that runs xpnet first (where
`pip install mpich` puts it, so a virtual environment's own MPI wins), then on PATH. `-m mpi4py`
makes an error that escapes xpnet on any process abort the whole job. Each process gets
cores / N threads for BLAS and xpnet's elementwise passes (unless the caller set them), so N
processes share the machine without oversubscribing it. The processes see `--workers N` again
and, being N already, train.
"""
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

from ..environment import THREAD_VARIABLES, cores
from .launch import INSTALL


def has_mpi4py():
    """Whether mpi4py can be imported here (without importing it)."""
    return importlib.util.find_spec("mpi4py") is not None


def find_mpiexec(python=None):
    """The mpiexec beside `python` (default: this interpreter), else the one on PATH, else None."""
    beside = Path(python or sys.executable).parent / "mpiexec"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("mpiexec")


def environment(workers, environ=None):
    """The environment for the processes: `environ` (default os.environ) with cores / workers threads each
    in every thread variable the caller left unset."""
    env = dict(os.environ if environ is None else environ)
    threads = str(max(1, cores() // workers))
    for name in THREAD_VARIABLES:
        env.setdefault(name, threads)
    return env


def command(workers, args, mpiexec, python=None):
    """The command line that runs `python args...` (e.g. ["-m", "xpnet", "train", ...]) on `workers` processes."""
    return [mpiexec, "-n", str(workers), python or sys.executable, "-m", "mpi4py", *args]


def relaunch(workers, args):
    """Run `python args...` on `workers` processes under mpiexec and wait; returns the job's exit status.
    RuntimeError naming what to install when mpi4py or mpiexec is missing."""
    if not has_mpi4py():
        raise RuntimeError(f"--workers {workers} needs mpi4py and an MPI: {INSTALL}")
    mpiexec = find_mpiexec()
    if mpiexec is None:
        raise RuntimeError(f"--workers {workers} needs an mpiexec (beside {sys.executable} or on PATH): {INSTALL}")
    return subprocess.run(command(workers, args, mpiexec), env=environment(workers)).returncode
