"""Data-parallel training over several processes, on existing engines: MPI through mpi4py on the CPU,
NCCL through CuPy on GPUs (MPI starting the processes and handing NCCL its id).

    mpiexec -n 4 xpnet train ...        # or: xpnet train --workers 4 ...

`world()` is this process's communicator (`SingleProcess` when no MPI launcher started several;
mpi4py is imported only then). `Trainer(..., comm=world())` with `DataLoader(..., rank=comm.rank,
world_size=comm.size)` trains one model on every process's part of each batch (`DataParallel`);
`SyncBatchNorm` / `convert_sync_batchnorm` normalise over the global batch; `fail_together` makes
an error on one process end them all; `workers.relaunch` is `--workers N`.
"""
from .data_parallel import DataParallel, ReplicasDiffer
from .faults import fail_together
from .launch import launched_size, world
from .mpi import MPICommunicator
from .nccl import NCCLCommunicator
from .single import SingleProcess
from .sync_batchnorm import SyncBatchNorm, convert_sync_batchnorm

__all__ = ["DataParallel", "MPICommunicator", "NCCLCommunicator", "ReplicasDiffer", "SingleProcess", "SyncBatchNorm",
           "convert_sync_batchnorm", "fail_together", "launched_size", "world"]
