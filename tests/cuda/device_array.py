"""Device arrays of the CuPy stand-in: `ndarray` wraps a NumPy array that plays GPU memory.

It is not a NumPy array, so host and device arrays stay apart as with CuPy:
`isinstance(a, numpy.ndarray)` is False, NumPy cannot convert one implicitly
(`numpy.asarray(d)` raises TypeError; `.get()` copies to the host), and a host
NumPy array given to a device operation raises TypeError("Unsupported type ...")
as CuPy does (Python and NumPy scalars are accepted). Attributes and methods are
those of CuPy's ndarray, computed by NumPy on the wrapped memory; outputs that
CuPy allocates C-contiguous (ufuncs, reductions, most copies) are C-contiguous
here too, and new uninitialised memory is filled with NaN (or 0x5A bytes) so
that reading it shows. Every device operation is counted in `device_log.log`
by the rules of tests/cuda/device_log.py. Ufuncs, Python's operators and
matmul on device arrays are device_ufunc.py's.
"""
import functools
import types

import numpy

import cupy_private
from device_log import log

NAMESPACE = None  # the stand-in module (fakecupy), for NumPy functions called on device arrays
_SCALARS = (bool, int, float, complex, numpy.generic)
REDUCTIONS = {"sum", "prod", "max", "min", "amax", "amin", "mean", "var", "std", "argmax", "argmin", "any", "all",
              "ptp", "cumsum", "cumprod", "count_nonzero", "nansum", "nanmax", "nanmin", "sort", "argsort"}
CREATORS = {"zeros", "ones", "full", "zeros_like", "ones_like", "full_like", "arange", "eye", "identity",
            "linspace"}
KEEPS_ORDER = {"copy", "astype", "zeros_like", "ones_like", "full_like", "empty_like"}
_IMPLICIT = ("Implicit conversion to a NumPy array is not allowed. Please use `.get()` to construct a NumPy "
             "array explicitly.")


def poisoned(shape, dtype=float, order="C"):
    """New memory as CuPy hands it out, uninitialised: NaN for floats, 0x5A bytes (True) otherwise."""
    a = numpy.empty(shape, dtype, order=order)
    if a.dtype.kind in "fc":
        a.fill(numpy.nan)
    elif a.dtype.kind == "b":
        a.fill(True)
    elif a.size:
        a.reshape(-1).view(numpy.uint8).fill(0x5A) if a.flags.c_contiguous else a.fill(0x5A)
    return a


def wrap(a):
    """A device array on NumPy array `a`'s memory (no copy)."""
    d = ndarray.__new__(ndarray)
    d._a = a
    return d


def device_data(value):
    """The memory behind a device array, a scalar as it is; TypeError for anything else (host arrays
    included), as CuPy refuses them."""
    if isinstance(value, ndarray):
        return value._a
    if isinstance(value, _SCALARS):
        return value
    raise TypeError(f"Unsupported type {type(value)}")


def unwrap(obj, known):
    """`obj` with device arrays replaced by their memory, inside lists and tuples too (`known` collects
    them by id); TypeError for host NumPy arrays."""
    if isinstance(obj, ndarray):
        known[id(obj._a)] = obj
        return obj._a
    if isinstance(obj, numpy.ndarray):
        raise TypeError(f"Unsupported type {type(obj)}")
    if isinstance(obj, (list, tuple)):
        return type(obj)(unwrap(o, known) for o in obj)
    if isinstance(obj, dict):
        return {k: unwrap(v, known) for k, v in obj.items()}
    return obj


def _kind(what):
    return "reduce" if what in REDUCTIONS else "fill" if what in CREATORS else "copy"


def wrap_result(result, known, what):
    """Device arrays for what a NumPy call on device memory returned, counting new memory as one
    operation of `what` (views are free); an input returned as is comes back as the same object."""
    if isinstance(result, numpy.ndarray):
        if id(result) in known:
            return known[id(result)]
        if not any(numpy.may_share_memory(result, k._a) for k in known.values()):
            if result.size:
                log.record(f"{_kind(what)} {what}")
            if what not in KEEPS_ORDER and not result.flags.c_contiguous:
                result = numpy.ascontiguousarray(result)  # CuPy allocates its outputs C-contiguous
        return wrap(result)
    if isinstance(result, numpy.generic):  # CuPy returns 0-d device arrays, not host scalars
        log.record(f"{_kind(what)} {what}")
        return wrap(numpy.array(result))
    if isinstance(result, (tuple, list)):
        return type(result)(wrap_result(r, known, what) for r in result)
    return result


def call_numpy(func, what, args, kwargs, known=None):
    """`func` (a NumPy function, or a method of the memory of the device arrays in `known`) on the memory of
    the device arrays among the arguments; the result as device arrays."""
    known = dict(known or {})
    args, kwargs = unwrap(args, known), unwrap(kwargs, known)
    result = func(*args, **kwargs)
    if kwargs.get("out") is not None and numpy.size(kwargs["out"]):  # computed into an array given
        log.record(f"{_kind(what)} {what}")
    return wrap_result(result, known, what)


def _index(key):
    """An index with device index arrays replaced by their memory (host index arrays are allowed: CuPy copies
    them to the device)."""
    if isinstance(key, tuple):
        return tuple(_index(k) for k in key)
    if isinstance(key, ndarray):
        return key._a
    if isinstance(key, numpy.ndarray):
        log.record("h2d")
    return key


def _advanced(key):
    return any(isinstance(k, (numpy.ndarray, list)) for k in (key if isinstance(key, tuple) else (key,)))


class ndarray:
    """A CuPy device array standing on NumPy memory (see the module docstring)."""

    __slots__ = ("_a", "__weakref__")
    __array_priority__ = 100
    __hash__ = None

    def __init__(self, shape, dtype=float, memptr=None, strides=None, order="C"):
        if memptr is not None or strides is not None:
            raise NotImplementedError("the CuPy stand-in has no memory pointers")
        self._a = poisoned(shape, dtype, order)

    # -- what CuPy's ndarray offers, computed by NumPy ---------------------------------------------
    def __getattr__(self, name):
        if name.startswith("_") or name not in _cupy_ndarray_names():
            raise AttributeError(f"'cupy.ndarray' object has no attribute {name!r}")
        value, known = getattr(self._a, name), {id(self._a): self}
        if callable(value):
            return lambda *args, **kwargs: call_numpy(value, name, args, kwargs, known)
        return wrap_result(value, known, name)

    shape = property(lambda self: self._a.shape)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    dtype = property(lambda self: self._a.dtype)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    data = property(lambda self: types.SimpleNamespace(ptr=self._a.__array_interface__["data"][0]))
    device = property(lambda self: NAMESPACE.cuda.Device(0))

    def __dir__(self):
        return sorted(_cupy_ndarray_names())

    # -- host <-> device ---------------------------------------------------------------------------
    def get(self, stream=None, order="C", out=None, blocking=True):
        """A host NumPy copy (CuPy first makes a contiguous device copy of a strided array)."""
        if not (self._a.flags.c_contiguous or self._a.flags.f_contiguous) and self.size:
            log.record("copy get")
        log.record("d2h")
        if out is not None:
            out[...] = self._a
            return out
        return numpy.array(self._a, order=order)

    def set(self, arr, stream=None):
        if not isinstance(arr, numpy.ndarray) or arr.shape != self.shape or arr.dtype != self.dtype:
            raise ValueError(f"set: expected a NumPy array of shape {self.shape} and dtype {self.dtype}")
        log.record("h2d")
        self._a[...] = arr

    def item(self, *args):
        log.record("d2h")
        return self._a.item(*args)

    def tolist(self):
        log.record("d2h")
        return self._a.tolist()

    def _to_host_scalar(self, convert):
        log.record("d2h")
        return convert(self._a)

    __float__ = lambda self: self._to_host_scalar(float)  # noqa: E731
    __int__ = lambda self: self._to_host_scalar(int)  # noqa: E731
    __complex__ = lambda self: self._to_host_scalar(complex)  # noqa: E731
    __bool__ = lambda self: self._to_host_scalar(bool)  # noqa: E731
    __repr__ = lambda self: self._to_host_scalar(repr)  # noqa: E731
    __str__ = lambda self: self._to_host_scalar(str)  # noqa: E731

    def __format__(self, spec):
        return self._to_host_scalar(lambda a: format(a, spec))

    def __array__(self, *args, **kwargs):
        raise TypeError(_IMPLICIT)

    # -- in-place writes -----------------------------------------------------------------------------
    def fill(self, value):
        if self.size:
            log.record("copy fill")
        self._a.fill(value if isinstance(value, numpy.ndarray) and value.ndim == 0 else device_data(value))

    def __getitem__(self, key):
        key = _index(key)
        result = self._a[key]
        if isinstance(result, numpy.generic):  # a full integer index: CuPy gives a 0-d view
            result = self._a[(key if isinstance(key, tuple) else (key,)) + (Ellipsis,)]
        return wrap_result(result, {id(self._a): self}, "getitem")

    def __setitem__(self, key, value):
        key = _index(key)
        if isinstance(value, numpy.ndarray):
            if _advanced(key):
                log.record("h2d")  # CuPy copies the values to the device first
            elif value.ndim:
                raise ValueError("non-scalar numpy.ndarray cannot be used for fill")
            data = value
        else:
            data = device_data(value) if isinstance(value, (ndarray,) + _SCALARS) else value
        if _advanced(key):
            log.record("copy setitem")
            self._a[key] = data
            return
        target = self._a[key]
        if isinstance(data, numpy.ndarray) and numpy.may_share_memory(target, data):
            same = data.shape == target.shape and data.strides == target.strides and \
                data.__array_interface__["data"] == target.__array_interface__["data"]
            if same:
                return  # CuPy skips a copy onto itself
            log.record("copy overlap")
        if numpy.size(target):
            log.record("copy setitem")
        self._a[key] = data

    # -- NumPy functions on device arrays run on the stand-in (ufuncs and operators: device_ufunc.py) --
    def __array_function__(self, func, types, args, kwargs):
        fake = getattr(NAMESPACE, func.__name__, None) if func.__module__ == "numpy" else None
        return NotImplemented if fake is None else fake(*args, **kwargs)

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(len(self)))

    def __copy__(self):
        return self.copy()

    def __deepcopy__(self, memo):
        return self.copy()


@functools.lru_cache(maxsize=None)
def _cupy_ndarray_names():
    """The public attributes of CuPy's ndarray: the stand-in offers these and no others."""
    return frozenset(n for n in dir(cupy_private.load().cupy.ndarray) if not n.startswith("_"))
