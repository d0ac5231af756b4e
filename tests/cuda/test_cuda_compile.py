"""Every custom CUDA kernel of xpnet/backend and every registered elementwise rule's body compiles with NVRTC for the GPUs xpnet supports, in every
argument layout xpnet launches it with, from the source CuPy itself generates for that layout.

The layouts are recorded from kernel_workload.py run on the CuPy stand-in (no GPU, no kernel bodies
run), each also in its 64-bit-index form (what CuPy generates for arrays over 2 GiB); a kernel that
the workload never launches fails the test by name, so a new kernel needs a caller there first.
"""
import importlib
import pkgutil

import pytest

import cupy_private
import gpu_standin

pytestmark = pytest.mark.cuda_compile

ARCHS = ("sm_80", "sm_90")


@pytest.fixture(scope="module")
def recorded():
    """{kernel name: (real CuPy kernel, [signature, ...])} launched by the workload."""
    import fakecupy
    import kernel_workload
    fakecupy.launches.clear()
    with gpu_standin.emulated_gpu(execute=False):
        kernel_workload.run()
    found = {name: (kernel, list(signatures)) for name, (kernel, signatures) in fakecupy.launches.items()}
    fakecupy.launches.clear()
    return found


def backend_kernels():
    """{name: kernel object} of every CuPy custom kernel defined in a module of xpnet.backend, and of every
    registered elementwise rule (backend/rules.py) as gpu.py builds it (real CuPy)."""
    import xpnet  # noqa: F401  (registers the rules of every optimizer and layer)
    import xpnet.backend
    from xpnet.backend import rules
    kinds = tuple(cupy_private.kernel_types().values())
    found = {}
    for info in pkgutil.iter_modules(xpnet.backend.__path__):
        module = importlib.import_module(f"xpnet.backend.{info.name}")
        for value in vars(module).values():
            if isinstance(value, kinds):
                name = getattr(value, "name", None) or getattr(value, "__name__", repr(value))
                assert found.get(name, value) is value, f"two kernels are named {name}: launches would mix"
                found[name] = value
    gpu = importlib.import_module("xpnet.backend.gpu")
    for rule in rules.RULES.values():
        assert rule.kernel_name not in found, f"two kernels are named {rule.kernel_name}: launches would mix"
        found[rule.kernel_name] = gpu._kernel(rule)
    return found


def large(signature):
    """The same launch with arrays too large for 32-bit indexing."""
    args, type_map = signature
    return tuple(a._replace(index_32_bits=False) for a in args), type_map


def test_backend_defines_kernels_of_supported_kinds_only():
    kernels = backend_kernels()
    assert {"xpnet_im2col", "xpnet_col2im"} <= set(kernels), "kernels.py's fused kernels were not found"
    assert {"xpnet_adam", "xpnet_scale_shift"} <= set(kernels), "the elementwise rules were not found"
    elementwise = cupy_private.kernel_types()["ElementwiseKernel"]
    other = {name: type(k).__name__ for name, k in kernels.items() if not isinstance(k, elementwise)}
    assert not other, f"tests/cuda compiles and emulates ElementwiseKernels only; teach it these: {other}"


def test_every_kernel_is_launched_by_the_workload(recorded):
    never = sorted(set(backend_kernels()) - set(recorded))
    assert not never, f"kernels never launched by tests/cuda/kernel_workload.py (add a caller there): {never}"
    assert all(signatures for _, signatures in recorded.values())


@pytest.mark.parametrize("arch", ARCHS)
def test_every_launch_layout_compiles(recorded, arch):
    failures, compiled = [], 0
    for name, (kernel, signatures) in sorted(recorded.items()):
        for signature in sorted({s for sig in signatures for s in (sig, large(sig))}, key=repr):
            args, type_map = signature
            try:
                cubin = cupy_private.compile_cubin(kernel, cupy_private.kernel_source(kernel, args, type_map), arch)
            except cupy_private.compile_exception() as exc:
                failures.append(f"{name} {type_map} ({', '.join(map(str, args))}):\n{exc}")
                continue
            assert cubin[:4] == b"\x7fELF", f"{name}: NVRTC returned no cubin for {arch}"
            compiled += 1
    assert not failures, f"{len(failures)} launch layouts do not compile for {arch}:\n" + "\n\n".join(failures)
    assert compiled >= 2 * len(recorded)


def test_a_broken_body_fails_with_nvrtcs_log(recorded):
    """The check is real: the generated source with an undeclared name in the body is rejected, with the log."""
    kernel, signatures = recorded["xpnet_im2col"]
    source = cupy_private.kernel_source(kernel, *signatures[0])
    assert "col = x[at];" in source
    with pytest.raises(cupy_private.compile_exception(), match="xpnet_undeclared"):
        cupy_private.compile_cubin(kernel, source.replace("col = x[at];", "col = x[at] + xpnet_undeclared;"), ARCHS[0])
