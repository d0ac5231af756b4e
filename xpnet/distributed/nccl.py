"""`NCCLCommunicator`: collectives between GPUs through NCCL (`cupy.cuda.nccl`), bootstrapped over MPI.

The gpu backend's communicator. Each process drives the GPU `local_rank % device count`;
rank 0 draws NCCL's unique id and MPI broadcasts it (the pip MPIs are not CUDA-aware, so MPI
carries only the id and host data, NCCL the device arrays). Reductions and broadcasts are
queued on the current CuPy stream, so a training step still never waits for the GPU.
NCCL comes with CuPy from the `nvidia-nccl-cu13` wheel.
"""
import importlib

from ..backend import xp
from .mpi import MPICommunicator

_TYPES = {"float16": "NCCL_FLOAT16", "float32": "NCCL_FLOAT32", "float64": "NCCL_FLOAT64",
          "int32": "NCCL_INT32", "int64": "NCCL_INT64", "uint8": "NCCL_UINT8"}
_OPS = {"sum": "NCCL_SUM", "min": "NCCL_MIN", "max": "NCCL_MAX"}


def load_nccl():
    """CuPy's NCCL module, or a RuntimeError that says what to install."""
    try:
        nccl = importlib.import_module("cupy.cuda.nccl")
    except ImportError as exc:
        raise RuntimeError(f"the gpu backend reduces gradients over NCCL, which CuPy cannot load ({exc}): "
                           "pip install nvidia-nccl-cu13") from None
    if not getattr(nccl, "available", True):
        raise RuntimeError("the gpu backend reduces gradients over NCCL, but CuPy was built without it: "
                           "pip install nvidia-nccl-cu13")
    return nccl


def check_gpus(local_size):
    """RuntimeError unless this machine has a GPU for each of its `local_size` processes (NCCL refuses two
    processes on one GPU)."""
    gpus = xp.cuda.runtime.getDeviceCount()
    if local_size > gpus:
        raise RuntimeError(f"{local_size} processes on this machine share {gpus} GPU(s), and NCCL needs a GPU "
                           "for each process")


class NCCLCommunicator:
    """NCCL for device arrays; the MPI communicator `mpi` (default: a new one) for host data and the start."""

    name = "nccl"

    def __init__(self, mpi=None):
        self.nccl = load_nccl()
        self.mpi = MPICommunicator() if mpi is None else mpi
        self.rank, self.size = self.mpi.rank, self.mpi.size
        self.local_rank, self.local_size = self.mpi.local_rank, self.mpi.local_size
        self.device = self.local_rank % xp.cuda.runtime.getDeviceCount()
        xp.cuda.Device(self.device).use()
        uid = self.mpi.bcast_object(self.nccl.get_unique_id() if self.rank == 0 else None)
        self.comm = self.nccl.NcclCommunicator(self.size, uid, self.rank)

    def _type(self, array):
        if not array.flags.c_contiguous:
            raise ValueError(f"NCCL needs a contiguous array, got one of shape {array.shape} with strides "
                             f"{array.strides}")
        name = _TYPES.get(array.dtype.name)
        if name is None:
            raise ValueError(f"NCCL carries {', '.join(_TYPES)} arrays, got {array.dtype}")
        return getattr(self.nccl, name)

    def allreduce(self, array, op="sum"):
        """Reduce the contiguous device `array` over every process, in place, on the current stream."""
        if op not in _OPS:
            raise ValueError(f"NCCLCommunicator: op must be one of {', '.join(_OPS)}, got {op!r}")
        ptr = array.data.ptr
        self.comm.allReduce(ptr, ptr, array.size, self._type(array), getattr(self.nccl, _OPS[op]),
                            xp.cuda.get_current_stream().ptr)
        return array

    def bcast(self, array):
        """Overwrite the contiguous device `array` with rank 0's, in place, on the current stream."""
        self.comm.bcast(array.data.ptr, array.size, self._type(array), 0, xp.cuda.get_current_stream().ptr)
        return array

    def reduce_host(self, values, op="sum"):
        return self.mpi.reduce_host(values, op)

    def bcast_object(self, obj):
        return self.mpi.bcast_object(obj)

    def barrier(self):
        self.mpi.barrier()

    def abort(self, code=1):
        """Abort NCCL's pending work on this GPU, then end every process through MPI."""
        try:
            self.comm.abort()
        finally:
            self.mpi.abort(code)
