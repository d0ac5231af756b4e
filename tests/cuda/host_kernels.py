"""Run a planned ElementwiseKernel launch (`elementwise_call.Launch`) on the CPU: CuPy's generated CUDA
source for exactly that launch, compiled by the host C++ compiler against host_shim.h, called through
ctypes on the operands' real memory, strides and all.

Builds are cached by a hash of everything that goes into them, in $XPNET_CUDA_HOST_CACHE or a folder
under the temporary directory, so each kernel variant is compiled once per machine. Floating-point
code is compiled without contraction into fused multiply-adds and with wrapping signed integers, so
its arithmetic is plain IEEE as NumPy's is (a GPU may fuse a*b+c and flushes float32 denormals to
zero: kernels doing that arithmetic need a tolerance on real hardware).
"""
import ctypes
import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy

import cupy_private

SHIM = Path(__file__).with_name("host_shim.h")
FLAGS = ("-std=c++17", "-O1", "-fPIC", "-shared", "-fwrapv", "-ffp-contract=off", "-fno-strict-aliasing",
         "-Wno-unknown-pragmas")
ENTRY = "xpnet_host_launch"
# dtypes whose C types (CuPy's names) the shim provides; float16 would need CuPy's float16 class.
SUPPORTED = {numpy.dtype(t) for t in ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                                      "uint64", "float32", "float64")}


class HostCompileError(RuntimeError):
    """The host compiler rejected a kernel's source; the message holds its diagnostics."""


def compiler():
    """The host C++ compiler's path ($CXX or g++), or None."""
    return shutil.which(os.environ.get("CXX", "g++"))


@functools.lru_cache(maxsize=None)
def _compiler_version(cxx):
    return subprocess.run([cxx, "--version"], capture_output=True, text=True, check=True).stdout


def cache_dir():
    path = os.environ.get("XPNET_CUDA_HOST_CACHE") or os.path.join(tempfile.gettempdir(),
                                                                    f"xpnet-cuda-host-{os.getuid()}")
    os.makedirs(path, exist_ok=True)
    return path


def _slots(arg):
    """How many pointers the entry point receives for one argument: data, shape and strides for an array."""
    return 3 if arg.kind == "array" else 1


def _entry_point(name, args):
    """C++ for `ENTRY(slots, reverse)`: builds each argument from its pointers and calls kernel `name` once."""
    exprs, k = [], 0
    for arg in args:
        if arg.kind == "array":
            t = cupy_private.c_name(arg.dtype)
            exprs.append(f"CArray<{t}, {arg.ndim}, {int(arg.c_contiguous)}, {int(arg.index_32_bits)}>("
                         f"static_cast<{t}*>(s[{k}]), static_cast<const long long*>(s[{k + 1}]), "
                         f"static_cast<const long long*>(s[{k + 2}]))")
        elif arg.kind == "scalar":
            exprs.append(f"*static_cast<const {cupy_private.c_name(arg.dtype)}*>(s[{k}])")
        else:
            exprs.append(f"CIndexer<{arg.ndim}, {int(arg.index_32_bits)}>(static_cast<const long long*>(s[{k}]))")
        k += _slots(arg)
    joined = ",\n        ".join(exprs)
    return (f'\nextern "C" void {ENTRY}(void* const* s, int reverse) {{\n'
            f"    xpnet_reverse_order = reverse;\n    {name}(\n        {joined});\n}}\n")


def source(launch):
    """The C++ file compiled for `launch`: the shim, CuPy's kernel source for its layouts, the entry point."""
    args = launch.args
    unsupported = {str(a.dtype) for a in args if a.dtype is not None and a.dtype not in SUPPORTED}
    if unsupported:
        raise NotImplementedError(f"host emulation of {launch.kernel.name} with {sorted(unsupported)}: "
                                  "add the C type to tests/cuda/host_shim.h")
    body = cupy_private.kernel_source(launch.kernel, args, launch.type_map)
    return f'#include "{SHIM.name}"\n' + body + _entry_point(launch.kernel.name, args)


@functools.lru_cache(maxsize=None)
def _library(text):
    """The loaded shared library built from C++ `text` (compiled once, then taken from the cache folder)."""
    cxx = compiler()
    if cxx is None:
        raise HostCompileError("no host C++ compiler: install g++ or set CXX")
    key = hashlib.sha256("\0".join([text, SHIM.read_text(), " ".join(FLAGS), _compiler_version(cxx)]).encode())
    target = os.path.join(cache_dir(), key.hexdigest()[:32] + ".so")
    if not os.path.exists(target):
        with tempfile.TemporaryDirectory(dir=cache_dir()) as work:
            cpp = os.path.join(work, "kernel.cpp")
            Path(cpp).write_text(text)
            built = os.path.join(work, "kernel.so")
            res = subprocess.run([cxx, *FLAGS, f"-I{SHIM.parent}", cpp, "-o", built], capture_output=True, text=True)
            if res.returncode != 0:
                numbered = "\n".join(f"{n:4} {line}" for n, line in enumerate(text.splitlines(), 1))
                raise HostCompileError(f"{cxx} failed:\n{res.stderr}\n--- source ---\n{numbered}")
            os.replace(built, target)  # atomic: concurrent test processes may build the same kernel
    lib = ctypes.CDLL(target)
    getattr(lib, ENTRY).argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int]
    return lib


def run(launch, reverse=False):
    """Execute `launch` on the host, in place on its operands' memory; threads in reverse order if asked."""
    if launch.size == 0:
        return
    lib = _library(source(launch))
    keep, slots = [], []  # `keep` holds the shape/stride arrays alive during the call
    for op in launch.operands:
        if op.kind == "array":
            shape, strides = numpy.array(op.shape, numpy.int64), numpy.array(op.strides, numpy.int64)
            keep += [shape, strides]
            slots += [op.value.__array_interface__["data"][0], shape.ctypes.data, strides.ctypes.data]
        elif op.kind == "scalar":
            slots.append(op.value.ctypes.data)
        else:
            shape = numpy.array(op.shape, numpy.int64)
            keep.append(shape)
            slots.append(shape.ctypes.data)
    getattr(lib, ENTRY)((ctypes.c_void_p * len(slots))(*slots), int(reverse))
