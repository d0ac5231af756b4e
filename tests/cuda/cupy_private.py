"""The one module of tests/cuda that uses CuPy's private APIs: its type decisions and code
generation for ElementwiseKernel, and NVRTC compilation without a device.

CuPy generates each kernel's CUDA source at its first launch, from the argument layouts
(dtype, rank, C-contiguity, 32-bit indexing) of that launch. These functions produce the
same source for a layout described by `elementwise_call.Arg`, so it can be compiled with
NVRTC (no driver needed) or on the host (`host_kernels`). They were written against and
tested with CuPy 14.2 (.ci/run pins it) and refuse other major versions: private APIs
change without notice, so a new CuPy means re-reading cupy/_core/_kernel.pyx (and
carray.cuh for host_shim.h) and updating this file.

CuPy is imported lazily: `load()` raises `Unavailable` with the reason when it cannot be
used, which the tests turn into a skip (or a failure under CI=true, see conftest.py).
"""
import functools
import importlib
import types

import numpy

WRITTEN_FOR = 14  # CuPy major version whose private APIs this module uses

# CuPy's argument kinds (cupy/_core/_kernel.pyx: ARG_KIND_NDARRAY, _INDEXER, _SCALAR).
_KINDS = {"array": 1, "indexer": 2, "scalar": 3}


class Unavailable(RuntimeError):
    """CuPy, its code generation, NVRTC or the CUDA headers cannot be used here (the message says which)."""


@functools.lru_cache(maxsize=None)
def load():
    """The real `cupy` module and the private modules used here, as a namespace; Unavailable if unusable.

    Called before the stand-in replaces sys.modules["cupy"], so the objects kept here stay the real ones."""
    try:
        cupy = importlib.import_module("cupy")
    except ImportError as exc:
        raise Unavailable(f"CuPy is not installed ({exc}): pip install 'cupy-cuda13x==14.2.*'") from exc
    major = int(cupy.__version__.split(".")[0])
    if major != WRITTEN_FOR:
        raise Unavailable(f"tests/cuda/cupy_private.py uses CuPy {WRITTEN_FOR}'s private code generation, but CuPy "
                          f"{cupy.__version__} is installed: check cupy/_core/_kernel.pyx and update it")
    from cupy._core import _carray, _kernel, _scalar, core
    from cupy.cuda import compiler
    return types.SimpleNamespace(cupy=cupy, kernel=_kernel, carray=_carray, scalar=_scalar, core=core,
                                 compiler=compiler)


def elementwise_kernel(*args, **kwargs):
    """A real cupy.ElementwiseKernel (public API; it parses and checks the parameters, and compiles lazily)."""
    return load().cupy.ElementwiseKernel(*args, **kwargs)


def kernel_types():
    """{name: class} of CuPy's custom-kernel kinds, for finding every kernel a module defines."""
    cupy = load().cupy
    return {"ElementwiseKernel": cupy.ElementwiseKernel, "ReductionKernel": cupy.ReductionKernel,
            "RawKernel": cupy.RawKernel, "RawModule": cupy.RawModule, "cupy.fuse": type(cupy.fuse(lambda x: x))}


def decide_types(kernel, in_dtypes, out_dtypes):
    """(in_types, out_types, type_map) as CuPy decides them from the array dtypes (None for scalars):
    TypeError on a mismatch, as at a real launch."""
    return kernel._decide_params_type(tuple(in_dtypes), tuple(out_dtypes))


def _arg_info(arg):
    ns = load()
    kind = _KINDS[arg.kind]
    typ = {"array": ns.cupy.ndarray, "indexer": ns.carray.Indexer, "scalar": ns.scalar.CScalar}[arg.kind]
    return ns.kernel._ArgInfo(kind, typ, arg.dtype, arg.ndim, arg.c_contiguous, arg.index_32_bits)


def kernel_source(kernel, args, type_map):
    """The CUDA source CuPy generates for `kernel` launched with argument layouts `args` (one `Arg` per
    parameter, the indexer last) and `type_map` from `decide_types`; without CuPy's header includes."""
    infos = tuple(_arg_info(a) for a in args)
    return load().kernel._get_elementwise_kernel_code(infos, type_map, kernel.params, kernel.operation, kernel.name,
                                                      kernel.preamble, **_codegen_kwargs(kernel))


def _codegen_kwargs(kernel):
    return {k: v for k, v in kernel.kwargs.items() if k in ("loop_prep", "after_loop")}


def c_name(dtype):
    """The C type CuPy uses for `dtype` ("float", "long long", ...)."""
    return load().scalar.get_typename(numpy.dtype(dtype))


def cupy_headers():
    """The #include lines CuPy puts before every kernel it compiles."""
    return "".join(f"#include <{h}>\n" for h in load().core._cupy_header_list)


def nvrtc_version():
    """(major, minor) of the NVRTC library CuPy loads; Unavailable when it cannot be loaded."""
    load()
    try:
        from cupy_backends.cuda.libs import nvrtc
        return nvrtc.getVersion()
    except Exception as exc:  # a missing library surfaces as several error types
        raise Unavailable(f"NVRTC cannot be loaded ({exc}): pip install 'nvidia-cuda-nvrtc==13.*'") from exc


def compile_options(own=()):
    """CuPy's NVRTC options around a kernel's `own` (include paths, C++ standard); Unavailable without the
    CUDA headers."""
    try:
        return load().core.assemble_cupy_compiler_options(tuple(own))
    except RuntimeError as exc:
        raise Unavailable(f"{exc} (pip install 'nvidia-cuda-runtime==13.*' provides them)") from exc


def compile_cubin(kernel, source, arch):
    """Compile CuPy-generated `source` of `kernel` with NVRTC for `arch` (e.g. "sm_90") as CuPy does at a
    launch (its headers; its options, in its order, but for the precompiled-header speed-up) and return the
    cubin bytes. Raises CompileException, whose message holds NVRTC's log, when the code does not compile."""
    ns = load()
    options = (compile_options(kernel.kwargs.get("options", ())) +
               ("-ftz=true", f"-arch={arch}", "--device-as-default-execution-space"))
    program = ns.compiler._NVRTCProgram(cupy_headers() + source, "kern.cu", method="cubin")
    cubin, _ = program.compile(options)
    return cubin


def compile_exception():
    """The exception class a failed NVRTC compilation raises."""
    return load().compiler.CompileException
