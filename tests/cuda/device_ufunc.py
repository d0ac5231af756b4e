"""Elementwise math and matrix products on the stand-in's device arrays: CuPy's ufuncs (outputs
allocated C-contiguous, one launch per call, CuPy's copy of an input that overlaps an output),
`matmul` with the operand copies CuPy's cuBLAS path makes, and Python's operators and NumPy's ufunc
protocol on `device_array.ndarray`, which this module installs.
"""
import math

import numpy

from device_array import call_numpy, device_data, ndarray, wrap
from device_log import log


class ufunc:
    """A CuPy ufunc computed by NumPy ufunc `np_ufunc`: outputs allocated C-contiguous, one launch per call."""

    def __init__(self, np_ufunc, name=None):
        self._np = np_ufunc
        self.__name__ = name or np_ufunc.__name__
        self.nin, self.nout = np_ufunc.nin, np_ufunc.nout

    def __repr__(self):
        return f"<ufunc '{self.__name__}'>"

    def __call__(self, *args, out=None, dtype=None, casting="same_kind"):
        ins = [device_data(a) for a in args[:self.nin]]
        outs = args[self.nin:] or (() if out is None else out if isinstance(out, tuple) else (out,))
        if any(not isinstance(o, ndarray) for o in outs):
            raise TypeError("Output arguments type must be cupy.ndarray")
        shape = numpy.broadcast_shapes(*(numpy.shape(a) for a in ins), *(o.shape for o in outs))
        if outs:
            for a in args[:self.nin]:  # CuPy first copies an input that overlaps an output it is not
                if isinstance(a, ndarray) and any(a is not o and numpy.may_share_memory(a._a, o._a) for o in outs):
                    log.record("copy overlap")
            self._np(*ins, out=tuple(o._a for o in outs), dtype=dtype, casting=casting)
            results = list(outs)
        else:
            r = self._np(*ins, dtype=dtype, casting=casting)
            results = [wrap(_c_order(x)) for x in (r if isinstance(r, tuple) else (r,))]
        if math.prod(shape):
            log.record(f"ufunc {self.__name__}")
        return results[0] if self.nout == 1 else tuple(results)

    def reduce(self, *args, **kwargs):
        return call_numpy(self._np.reduce, "sum" if self.__name__ == "add" else self.__name__, args, kwargs)


def _c_order(x):
    x = numpy.asarray(x)
    return x if x.flags.c_contiguous else numpy.ascontiguousarray(x)


_UFUNCS = {}


def ufunc_named(name):
    """The stand-in's ufunc for NumPy's ufunc `name` (one object per name)."""
    if name not in _UFUNCS:
        _UFUNCS[name] = ufunc(getattr(numpy, name))
    return _UFUNCS[name]


def matmul(a, b, out=None):
    """cupy.matmul: one cuBLAS call, after CuPy's copies of operands it cannot pass as they are (for 3-d and
    more: any not C-contiguous or not of the result type; for 2-d: neither C- nor F-contiguous)."""
    x, y = device_data(a), device_data(b)
    if numpy.ndim(x) == 0 or numpy.ndim(y) == 0:
        raise ValueError("Scalar operands are not allowed, use '*' instead")
    dtype = numpy.promote_types(x.dtype, y.dtype)
    if max(x.ndim, y.ndim) > 2:
        copies = sum(not m.flags.c_contiguous or m.dtype != dtype for m in (x, y))
    else:
        copies = sum(not (m.flags.c_contiguous or m.flags.f_contiguous) or m.dtype != dtype for m in (x, y))
    result = numpy.matmul(x, y)
    if result.size:
        log.record("copy matmul operand", copies)
        log.record("matmul")
    if out is None:
        return wrap(_c_order(result))
    o = device_data(out)
    if not o.flags.c_contiguous or o.dtype != dtype or numpy.may_share_memory(o, x) or numpy.may_share_memory(o, y):
        log.record("copy matmul out")
    o[...] = result
    return out


def _operators():
    """Python's operators on device arrays, as the ufuncs CuPy maps them to."""
    binary = {"add": "add", "sub": "subtract", "mul": "multiply", "truediv": "true_divide",
              "floordiv": "floor_divide", "mod": "remainder", "pow": "power", "and": "bitwise_and",
              "or": "bitwise_or", "xor": "bitwise_xor", "lshift": "left_shift", "rshift": "right_shift"}
    for op, name in binary.items():
        setattr(ndarray, f"__{op}__", lambda self, other, n=name: ufunc_named(n)(self, other))
        setattr(ndarray, f"__r{op}__", lambda self, other, n=name: ufunc_named(n)(other, self))
        setattr(ndarray, f"__i{op}__", lambda self, other, n=name: ufunc_named(n)(self, other, out=self))
    compare = {"lt": "less", "le": "less_equal", "gt": "greater", "ge": "greater_equal", "eq": "equal",
               "ne": "not_equal"}
    for op, name in compare.items():
        setattr(ndarray, f"__{op}__", lambda self, other, n=name: ufunc_named(n)(self, other))
    for op, name in {"neg": "negative", "pos": "positive", "abs": "absolute", "invert": "invert"}.items():
        setattr(ndarray, f"__{op}__", lambda self, n=name: ufunc_named(n)(self))
    ndarray.__matmul__ = lambda self, other: matmul(self, other)
    ndarray.__rmatmul__ = lambda self, other: matmul(other, self)
    ndarray.__array_ufunc__ = _array_ufunc


def _array_ufunc(self, np_ufunc, method, *inputs, **kwargs):
    """NumPy's ufuncs called on device arrays run as the stand-in's (as CuPy's do)."""
    fake = ufunc_named(np_ufunc.__name__)
    if method == "__call__":
        return fake(*inputs, **kwargs)
    if method == "reduce":
        return fake.reduce(*inputs, **kwargs)
    return NotImplemented


_operators()
