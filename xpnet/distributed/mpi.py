"""`MPICommunicator`: collectives between the processes an MPI launcher started, through mpi4py.

The CPU backend's communicator. Arrays are reduced in place by MPI's buffer interface
(`Allreduce` with `MPI.IN_PLACE`): no pickling, one message per call. Arrays of another
backend (the gpu backend without NCCL) go through a host copy and back.
"""
from ..backend import asarray, to_numpy

OPS = ("sum", "min", "max")


class MPICommunicator:
    """MPI.COMM_WORLD (or `comm`) through mpi4py; importing this module does not import mpi4py."""

    name = "mpi"

    def __init__(self, comm=None):
        from mpi4py import MPI
        self.MPI = MPI
        self.comm = MPI.COMM_WORLD if comm is None else comm
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        node = self.comm.Split_type(MPI.COMM_TYPE_SHARED)  # the processes on this machine
        self.local_rank, self.local_size = node.Get_rank(), node.Get_size()
        node.Free()

    def _op(self, op):
        if op not in OPS:
            raise ValueError(f"{type(self).__name__}: op must be one of {', '.join(OPS)}, got {op!r}")
        return {"sum": self.MPI.SUM, "min": self.MPI.MIN, "max": self.MPI.MAX}[op]

    def allreduce(self, array, op="sum"):
        """Reduce contiguous `array` over every process, in place; returns it."""
        mpi_op = self._op(op)
        return self._through_host(array, lambda buf: self.comm.Allreduce(self.MPI.IN_PLACE, buf, op=mpi_op))

    def bcast(self, array):
        """Overwrite contiguous `array` with rank 0's, in place; returns it."""
        return self._through_host(array, lambda buf: self.comm.Bcast(buf, root=0))

    def reduce_host(self, values, op="sum"):
        """Reduce the host array `values` over every process, in place; returns it."""
        self.comm.Allreduce(self.MPI.IN_PLACE, values, op=self._op(op))
        return values

    def bcast_object(self, obj):
        """Rank 0's `obj` (host data: numbers, strings, NumPy arrays, dicts and lists of them) on every rank."""
        return self.comm.bcast(obj, root=0)

    def barrier(self):
        self.comm.Barrier()

    def abort(self, code=1):
        """End every process of the job now, with exit status `code`."""
        self.comm.Abort(code)

    @staticmethod
    def _through_host(array, collective):
        if not array.flags.c_contiguous:
            raise ValueError(f"collectives need a contiguous array, got one of shape {array.shape} with strides "
                             f"{array.strides}")
        buf = to_numpy(array)  # `array` itself on the CPU
        collective(buf)
        if buf is not array:
            array[...] = asarray(buf)
        return array
