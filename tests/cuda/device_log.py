"""The device operations the CuPy stand-in has queued, counted by kind, as an approximation of what CuPy
would launch on a GPU (tests/cuda/fakecupy.py applies these rules):

- "kernel NAME": one custom ElementwiseKernel launch (xpnet/backend/kernels.py, or a rule of backend/rules.py);
- "ufunc NAME": one elementwise ufunc call, operator or in-place operator (`a + b`, `a += b`), and
  `where`/`clip`; plus "copy overlap" when CuPy first copies an input that overlaps the output;
- "reduce NAME": one reduction (`sum`, `max`, `mean`, `argmax`, ...: CuPy runs each as one kernel);
- "copy NAME": a call that returns new memory from existing data (copy, astype, ascontiguousarray,
  a reshape that cannot be a view, concatenate, stack, advanced indexing, matmul operand copies)
  or writes into an array (`a[...] = b`, copyto, fill);
- "fill NAME": an array created with values (zeros, ones, full, *_like but empty_like);
- "matmul": one cuBLAS call;
- "random NAME": one generator launch;
- "h2d" / "d2h": copies between host and device memory (asarray of host data, get, item, float, ...).

Views (slicing, reshape, transpose, moveaxis, broadcast_to, as_strided) and `empty` are free, and a
call over zero elements launches nothing, as in CuPy. `launches()` is everything but the copies
between host and device.
"""
import collections
import contextlib

TRANSFERS = ("h2d", "d2h")


class DeviceLog:
    """A counter of device operations by kind (see the module docstring)."""

    def __init__(self):
        self.ops = collections.Counter()

    def record(self, what, n=1):
        self.ops[what] += n

    def launches(self):
        """Device operations queued on the GPU's stream: all but host<->device copies."""
        return sum(n for what, n in self.ops.items() if what not in TRANSFERS)

    def transfers(self):
        return sum(self.ops[what] for what in TRANSFERS)

    def count(self, prefix):
        """How many operations whose kind starts with `prefix` (e.g. "kernel xpnet_im2col", "ufunc")."""
        return sum(n for what, n in self.ops.items() if what.startswith(prefix))

    @contextlib.contextmanager
    def counting(self):
        """Count from zero inside the block; yields a DeviceLog of just that block's operations."""
        saved, block = self.ops, DeviceLog()
        self.ops = block.ops
        try:
            yield block
        finally:
            self.ops = saved + block.ops


log = DeviceLog()
