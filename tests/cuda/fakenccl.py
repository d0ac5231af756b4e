"""A stand-in for `cupy.cuda.nccl`, over MPI, for the CuPy stand-in's device memory.

NCCL's calls as CuPy exposes them (device pointers, element counts, NCCL's type and operation codes,
a stream handle) are carried out by MPI on the memory the pointers address, so xpnet's NCCL
communicator runs, pointers and counts and all, in processes without a GPU: a wrong pointer, count
or type gives wrong sums. `calls` records each collective (name, count, dtype, stream) for tests.
Codes are those of nccl.h.
"""
import ctypes
import os

import numpy
from mpi4py import MPI

NCCL_INT8, NCCL_UINT8, NCCL_INT32, NCCL_UINT32, NCCL_INT64, NCCL_UINT64 = range(6)
NCCL_FLOAT16, NCCL_FLOAT32, NCCL_FLOAT64 = 6, 7, 8
NCCL_SUM, NCCL_PROD, NCCL_MAX, NCCL_MIN = range(4)
_TYPES = {NCCL_INT8: "int8", NCCL_UINT8: "uint8", NCCL_INT32: "int32", NCCL_UINT32: "uint32", NCCL_INT64: "int64",
          NCCL_UINT64: "uint64", NCCL_FLOAT16: "float16", NCCL_FLOAT32: "float32", NCCL_FLOAT64: "float64"}
_OPS = {NCCL_SUM: MPI.SUM, NCCL_PROD: MPI.PROD, NCCL_MAX: MPI.MAX, NCCL_MIN: MPI.MIN}
available = True
calls = []


class NcclError(RuntimeError):
    pass


def get_unique_id():
    """128 bytes, as NCCL's ncclUniqueId."""
    return os.urandom(128)


def _memory(ptr, count, datatype):
    """The `count` elements of NCCL type `datatype` at address `ptr`, as a NumPy array on that memory."""
    if not isinstance(ptr, int) or ptr == 0:
        raise NcclError(f"not a device pointer: {ptr!r}")
    dtype = numpy.dtype(_TYPES[datatype])
    return numpy.frombuffer((ctypes.c_char * (count * dtype.itemsize)).from_address(ptr), dtype, count)


class NcclCommunicator:
    """ncclCommInitRank(ndev, id, rank): every rank must pass the same id, and ndev and rank must be MPI's."""

    def __init__(self, ndev, commId, rank):
        world = MPI.COMM_WORLD
        if not isinstance(commId, bytes) or len(commId) != 128:
            raise NcclError(f"commId must be the 128 bytes of get_unique_id(), got {type(commId).__name__}")
        if len(set(world.allgather(commId))) != 1 or (ndev, rank) != (world.size, world.rank):
            raise NcclError("ranks disagree on the NCCL id, the size or their rank")
        import fakecupy
        devices = world.allgather(fakecupy.settings.device)  # one process per GPU, as NCCL requires
        if len(set(devices)) != len(devices):
            raise NcclError(f"invalid usage: duplicate GPU detected: the ranks use devices {devices}")
        self._comm = world.Dup()

    def allReduce(self, sendbuf, recvbuf, count, datatype, op, stream):
        calls.append(("allReduce", count, _TYPES[datatype], stream))
        recv = _memory(recvbuf, count, datatype)
        send = MPI.IN_PLACE if sendbuf == recvbuf else _memory(sendbuf, count, datatype).copy()
        self._comm.Allreduce(send, recv, op=_OPS[op])

    def bcast(self, buff, count, datatype, root, stream):
        calls.append(("bcast", count, _TYPES[datatype], stream))
        self._comm.Bcast(_memory(buff, count, datatype), root=root)

    def abort(self):
        calls.append(("abort",))

    def size(self):
        return self._comm.size

    def rank_id(self):
        return self._comm.rank
