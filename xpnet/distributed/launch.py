"""Whether an MPI launcher started this process, and the communicator it trains with.

`mpiexec -n N` tells each process the job's size in its environment (PMI_SIZE under
MPICH and Intel MPI, OMPI_COMM_WORLD_SIZE under Open MPI, MV2_COMM_WORLD_SIZE under
MVAPICH2); mpi4py is imported only when that size is above 1, so one process never
needs it. The backend names the engine for its arrays (`ops.COMMUNICATOR`): MPI on the
CPU, NCCL on the GPU.
"""
import os
import sys

from ..backend import ops

SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")
INSTALL = "pip install 'xpnet[mpi]' (mpi4py and MPICH)"

_world = []  # the communicator of this process, made once (MPI and NCCL start once per process)


def launched_size(environ=None):
    """The number of processes an MPI launcher started this one among (1 without a launcher)."""
    environ = os.environ if environ is None else environ
    sizes = []
    for name in SIZE_VARIABLES:
        text = environ.get(name, "").strip()
        if text:
            try:
                sizes.append(int(text))
            except ValueError:
                raise RuntimeError(f"{name}={text!r} in the environment: expected the number of processes") from None
    return max(sizes, default=1)


def world():
    """This process's communicator: `SingleProcess` unless an MPI launcher started several, else the
    current backend's (MPI on cpu, NCCL on gpu, falling back to MPI through host copies without NCCL)."""
    if _world:
        return _world[0]
    size = launched_size()
    if size <= 1:
        from .single import SingleProcess
        comm = SingleProcess()
    else:
        try:
            import mpi4py  # noqa: F401
        except ImportError:
            raise RuntimeError(f"this process is one of {size} that an MPI launcher started, but mpi4py is not "
                               f"installed: {INSTALL}") from None
        from .mpi import MPICommunicator
        comm = MPICommunicator()
        if comm.size != size:
            raise RuntimeError(f"the launcher's environment says {size} processes but MPI has {comm.size}: "
                               "mpi4py may be built for another MPI than the one that started the job")
        if ops.COMMUNICATOR == "nccl":
            comm = _nccl_or_mpi(comm)
    _world.append(comm)
    return comm


def _nccl_or_mpi(mpi):
    """NCCL over `mpi`'s processes, or `mpi` itself (host copies) with a warning where NCCL cannot load or the
    machine has fewer GPUs than processes."""
    from .nccl import NCCLCommunicator, check_gpus, load_nccl
    try:
        load_nccl()
        check_gpus(mpi.local_size)
    except RuntimeError as exc:
        if mpi.rank == 0:
            print(f"xpnet: {exc}; reducing through host copies over MPI instead (slower)", file=sys.stderr)
        return mpi
    return NCCLCommunicator(mpi)
