"""`SingleProcess`: the communicator of a run in one process, whose collectives have nothing to do.

Every communicator has this interface: `rank`, `size`, `local_rank` and `local_size` (the rank among
the processes on this machine, and their number); `allreduce(array, op)` and `bcast(array)` in place on arrays of the
current backend; `reduce_host(values, op)` in place on a small host array; `bcast_object(obj)`
of host data from rank 0; `barrier()`; and `abort(code)`, which ends every process of the job.
`op` is "sum", "min" or "max".
"""
import sys


class SingleProcess:
    """One process: the collectives return their input unchanged."""

    name = "single"
    rank, size, local_rank, local_size = 0, 1, 0, 1

    def allreduce(self, array, op="sum"):
        return array

    def bcast(self, array):
        return array

    def reduce_host(self, values, op="sum"):
        return values

    def bcast_object(self, obj):
        return obj

    def barrier(self):
        pass

    def abort(self, code=1):
        sys.exit(code)
