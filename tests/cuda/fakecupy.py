"""A stand-in for the `cupy` module, on NumPy: enough of CuPy for xpnet.backend.gpu and everything
xpnet computes through `xp` to run without a GPU (gpu_standin.py installs it as sys.modules["cupy"]).

- Device arrays are `device_array.ndarray`, not NumPy arrays (see device_array.py for how host and
  device arrays are kept apart, device_ufunc.py for their math, device_log.py for what is counted).
- `ElementwiseKernel` is CuPy's own object for everything but the launch: each call is planned as
  CuPy plans it (elementwise_call.py), recorded with its argument layouts, counted, and its CUDA body
  runs on the host (host_kernels.py) unless `settings.execute` is False (then outputs stay
  uninitialised: enough to record layouts and count launches). ReductionKernel, RawKernel,
  RawModule and fuse are refused with a message until tests/cuda learns them.
- Any other name CuPy exports and NumPy has is NumPy's, run on device memory: ufuncs as
  `device_ufunc.ufunc`, functions through `device_array.call_numpy`; names CuPy lacks are missing.
- `random` draws from a NumPy generator seeded by `random.seed`; `cuda` answers as one device.
"""
import collections
import os
import sys
import tracemalloc
import types

import numpy

import cupy_private
import device_array
import elementwise_call
import host_kernels
from device_array import call_numpy, device_data, ndarray, poisoned, wrap  # noqa: F401
from device_ufunc import matmul, ufunc, ufunc_named  # noqa: F401
from device_log import log as device_log

_real = cupy_private.load().cupy
__version__ = f"{_real.__version__}+xpnet-emulated"
settings = types.SimpleNamespace(execute=True, reverse_threads=False, devices=1, device=0)  # devices: how many GPUs
# the machine reports (each one the same host memory); device: the one the last Device(i).use() chose
# {kernel name: (real CuPy kernel, Counter of launch signatures)}: every launch of every emulated kernel.
launches = {}


class ElementwiseKernel:
    """cupy.ElementwiseKernel whose launches are planned by CuPy's rules and run on the host."""

    def __init__(self, in_params, out_params, operation, name="kernel", reduce_dims=True, preamble="",
                 no_return=False, return_tuple=False, **kwargs):
        self.real = cupy_private.elementwise_kernel(in_params, out_params, operation, name, reduce_dims, preamble,
                                                    no_return, return_tuple, **kwargs)
        self.name = self.__name__ = name

    def __call__(self, *args, size=-1, stream=None, block_size=128):
        known = {id(a._a): a for a in args if isinstance(a, ndarray)}
        launch = elementwise_call.plan(self.real, [device_data(a) for a in args], size, allocate=poisoned)
        if launch.size:
            launches.setdefault(self.name, (self.real, collections.Counter()))[1][launch.signature] += 1
            device_log.record(f"kernel {self.name}")
            if settings.execute:
                host_kernels.run(launch, reverse=settings.reverse_threads)
        return _device(launch.result, known)


def _device(result, known):
    """The kernel's outputs as device arrays: those given are returned as the same objects."""
    if isinstance(result, tuple):
        return tuple(_device(r, known) for r in result)
    if result is None:
        return None
    given = known.get(id(result))
    return wrap(result) if given is None else given


def _not_emulated(kind):
    def refuse(*args, **kwargs):
        raise NotImplementedError(f"cupy.{kind} is not emulated by tests/cuda yet: teach elementwise_call.py, "
                                  "host_kernels.py and cupy_private.py its code generation")
    return refuse


ReductionKernel, RawKernel, RawModule, fuse = map(_not_emulated, ("ReductionKernel", "RawKernel", "RawModule", "fuse"))


# -- arrays from the host, and back ---------------------------------------------------------------
def _to_device(obj, dtype=None, order="K"):
    """New device memory holding host data `obj` (one host-to-device copy, of contiguous memory as CuPy's)."""
    device_log.record("h2d")
    a = numpy.array(obj, dtype=dtype, order=order, copy=True)
    return wrap(a if a.flags.c_contiguous or a.flags.f_contiguous else numpy.ascontiguousarray(a))


def asarray(a, dtype=None, order=None, *, blocking=False):
    if isinstance(a, ndarray):
        return a if dtype is None else a.astype(dtype, copy=False)
    return _to_device(a, dtype, order or "K")


def array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0, *, blocking=False):
    if isinstance(obj, ndarray):
        return call_numpy(numpy.array, "copy", (obj,), dict(dtype=dtype, copy=copy, order=order, ndmin=ndmin))
    return _to_device(numpy.array(obj, ndmin=ndmin), dtype, order)


def ascontiguousarray(a, dtype=None):
    if isinstance(a, ndarray):
        return call_numpy(numpy.ascontiguousarray, "ascontiguousarray", (a,), dict(dtype=dtype))
    return _to_device(a, dtype, "C")


def asnumpy(a, stream=None, order="C", out=None, blocking=True):
    return a.get(order=order, out=out) if isinstance(a, ndarray) else numpy.asarray(a, order=order)


def get_array_module(*args):
    return _module() if any(isinstance(a, ndarray) for a in args) else numpy


def _module():
    return sys.modules[__name__]


# -- creation and copies with CuPy's own rules -------------------------------------------------------
def empty(shape, dtype=float, order="C"):
    return wrap(poisoned(shape, dtype, order))


def empty_like(prototype, dtype=None, order="K", subok=None, shape=None):
    a = numpy.empty_like(device_data(prototype), dtype=dtype, order=order, shape=shape)
    a[...] = poisoned(a.shape, a.dtype)
    return wrap(a)


def copyto(dst, src, casting="same_kind", where=None):
    if isinstance(src, numpy.ndarray):
        if src.size != 1:
            raise ValueError("non-scalar numpy.ndarray cannot be used for copyto")
        src = src.reshape(())[()]
    data = device_data(dst)
    if data.size:
        device_log.record("copy copyto")
    numpy.copyto(data, device_data(src), casting=casting, where=True if where is None else device_data(where))


def where(condition, x=None, y=None):
    """CuPy's where(condition, x, y): an elementwise kernel with a C-contiguous output."""
    if x is None and y is None:
        return call_numpy(numpy.nonzero, "nonzero", (condition,), {})
    return _where(condition, x, y)


class _Where:
    """numpy.where with the ufunc interface `device_ufunc.ufunc` drives."""
    nin, nout, __name__ = 3, 1, "where"

    def __call__(self, c, x, y, out=None, dtype=None, casting=None):
        r = numpy.where(c, x, y)
        if out is None:
            return r
        out[0][...] = r
        return out[0]


_where = ufunc(_Where(), "where")


def shares_memory(a, b, max_work=None):
    return numpy.shares_memory(device_data(a), device_data(b))


def may_share_memory(a, b, max_work=None):
    return numpy.may_share_memory(device_data(a), device_data(b))


def result_type(*arrays_and_dtypes):
    return numpy.result_type(*(a.dtype if isinstance(a, ndarray) else a for a in arrays_and_dtypes))


def _as_strided(x, shape=None, strides=None):
    return call_numpy(numpy.lib.stride_tricks.as_strided, "as_strided", (x,), dict(shape=shape, strides=strides))


lib = types.SimpleNamespace(stride_tricks=types.SimpleNamespace(as_strided=_as_strided))


# -- random numbers and the device ----------------------------------------------------------------------
class _Random:
    """cupy.random: draws from a NumPy generator on device memory, one launch per draw."""

    def __init__(self):
        self._gen = numpy.random.default_rng(0)

    def seed(self, seed=None):
        self._gen = numpy.random.default_rng(seed)

    def _draw(self, what, values, dtype):
        device_log.record(f"random {what}")
        return wrap(numpy.asarray(values, dtype=dtype))

    def random(self, size=None, dtype=float):
        return self._draw("random", self._gen.random(size), dtype)

    def rand(self, *size, dtype=float):
        return self.random(size, dtype)

    def standard_normal(self, size=None, dtype=float):
        return self._draw("standard_normal", self._gen.standard_normal(size), dtype)

    def normal(self, loc=0.0, scale=1.0, size=None, dtype=float):
        return self._draw("normal", self._gen.normal(loc, scale, size), dtype)

    def uniform(self, low=0.0, high=1.0, size=None, dtype=float):
        return self._draw("uniform", self._gen.uniform(low, high, size), dtype)

    def random_sample(self, size=None, dtype=float):
        return self.random(size, dtype)


class _RandomState(_Random):
    """cupy.random.RandomState(seed): a generator of its own."""

    def __init__(self, seed=None):
        super().__init__()
        self.seed(seed)


random = _Random()
random.RandomState = _RandomState


class _Stream:
    ptr = 0  # the handle of CUDA's default stream, as CuPy's current stream has by default

    def synchronize(self):
        pass


class _Device:
    """An emulated device: one of `settings.devices`, all on the host."""

    def __init__(self, device=None):
        self.id = 0 if device is None else int(device)
        self.compute_capability = "90"

    def synchronize(self):
        pass

    def use(self):
        if not 0 <= self.id < settings.devices:
            raise ValueError(f"the emulated machine has {settings.devices} GPU(s), no device {self.id}")
        settings.device = self.id

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class _MemoryHook:
    """CuPy's memory hooks on the stand-in, whose device memory is NumPy's: Python's allocation tracer counts
    it, and on leaving the hook hears the traced peak as one block handed out (at a made-up pointer) and
    returned. Entering a second hook of the same name is CuPy's KeyError; where another tracer already runs,
    the hook hears nothing and leaves it running."""
    name = None
    _active = set()

    def __enter__(self):
        if self.name in _MemoryHook._active:
            raise KeyError(f"memory hook {self.name} already exists")
        _MemoryHook._active.add(self.name)
        self._tracing = not tracemalloc.is_tracing()
        if self._tracing:
            tracemalloc.start()
        return self

    def __exit__(self, *exc):
        _MemoryHook._active.discard(self.name)
        if self._tracing:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            self.malloc_postprocess(device_id=0, size=peak, mem_size=peak, mem_ptr=1, pmem_id=1)
            self.free_postprocess(device_id=0, mem_size=peak, mem_ptr=1, pmem_id=1)
        return False

    def malloc_postprocess(self, **kwargs):
        pass

    def free_postprocess(self, **kwargs):
        pass


def _mem_get_info():
    """(free, total) bytes of the emulated device: the host's."""
    page = os.sysconf("SC_PAGE_SIZE")
    return os.sysconf("SC_AVPHYS_PAGES") * page, os.sysconf("SC_PHYS_PAGES") * page


def get_default_memory_pool():
    """The pool's cached blocks: none, NumPy frees at once."""
    return types.SimpleNamespace(free_bytes=lambda: 0, used_bytes=lambda: 0, total_bytes=lambda: 0,
                                 get_limit=lambda: 0)


_runtime = types.SimpleNamespace(
    memGetInfo=_mem_get_info, getDeviceCount=lambda: settings.devices, runtimeGetVersion=lambda: 13000,
    driverGetVersion=lambda: 13000, is_hip=False,
    getDeviceProperties=lambda device: {"name": b"xpnet emulated GPU (NumPy, kernels on the host)",
                                        "major": 9, "minor": 0})
# The CUDA libraries CuPy loads on first use: all present, as after `pip install "xpnet[gpu]"`.
_libraries = dict(nvrtc=types.SimpleNamespace(getVersion=lambda: (13, 0)), cublas=types.SimpleNamespace(),
                  curand=types.SimpleNamespace())
cuda = types.SimpleNamespace(runtime=_runtime, Device=_Device, Stream=_Stream, MemoryHook=_MemoryHook,
                             get_current_stream=lambda: _Stream(), get_device_id=lambda: 0, **_libraries)


def dot(a, b, out=None):
    return matmul(a, b, out)


# -- everything else CuPy exports that NumPy has ----------------------------------------------------------
_MISSING = object()


def __getattr__(name):
    if name.startswith("__") or not hasattr(_real, name):
        raise AttributeError(f"module 'cupy' has no attribute {name!r}")
    value = getattr(numpy, name, _MISSING)
    if value is _MISSING or isinstance(value, types.ModuleType):
        raise AttributeError(f"cupy.{name} is not emulated by tests/cuda/fakecupy.py")
    if isinstance(value, numpy.ufunc):
        found = ufunc_named(name)
    elif isinstance(value, type) or not callable(value):
        found = value  # dtypes, scalar types, constants
    else:
        def found(*args, _f=value, **kwargs):
            return call_numpy(_f, name, args, kwargs)
        found.__name__ = name
    globals()[name] = found
    return found


device_array.NAMESPACE = _module()
