"""A pytest plugin that runs a whole test session on xpnet's gpu backend with the CuPy stand-in
(gpu.py's ops, fused kernels run on the host): `python -m pytest -p emulated_gpu_plugin tests/test_conv.py`
with tests/cuda on PYTHONPATH. tests/cuda/test_cuda_layer_suite.py runs the whole suite this way.

The header names the backend, and the summary lists the emulated kernel launches, so a caller can see
that the fused kernels ran. Where a test shrinks the CPU's row blocks (cpu._BLOCK_BYTES, as the
`blocks` fixture of tests/test_conv.py does), the GPU's convolutions follow it, so such tests run the
fused kernels on row blocks too and not just on the GPU's one large block.
"""
import gpu_standin

_session = None


def pytest_configure(config):
    global _session
    why = gpu_standin.requirements()
    if why:
        raise RuntimeError(f"emulated_gpu_plugin cannot run: {why}")
    _session = gpu_standin.emulated_gpu()
    _session.__enter__()
    _follow_cpu_row_blocks()


def _follow_cpu_row_blocks():
    import xpnet.backend.cpu as cpu
    import xpnet.backend.gpu as gpu
    default, gpu_row_blocks = cpu._BLOCK_BYTES, gpu.row_blocks

    def row_blocks(rows, row_bytes):
        if cpu._BLOCK_BYTES != default:  # a test asked for small blocks
            return cpu.row_blocks(rows, row_bytes, cpu._BLOCK_BYTES)
        return gpu_row_blocks(rows, row_bytes)
    gpu.row_blocks = row_blocks


def pytest_unconfigure(config):
    if _session is not None:
        _session.__exit__(None, None, None)


def pytest_report_header(config):
    from xpnet.backend import registry
    return f"xpnet backend: {registry.current()} on {registry.state.module.__name__} (emulated CuPy)"


def pytest_terminal_summary(terminalreporter):
    import fakecupy
    counts = {name: sum(signatures.values()) for name, (_, signatures) in sorted(fakecupy.launches.items())}
    terminalreporter.write_line("emulated kernel launches: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
