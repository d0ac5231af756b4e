"""CuPy kernels behind `xpnet.backend.ops` on the GPU.

For now the window kernels are cpu.py's, bound to CuPy: strided views, one copy
for im2col and kh*kw strided additions for col2im, all generic CuPy operations.
Convolutions run in row blocks far larger than the CPU's (launches, not caches,
limit the GPU), which bound the column memory of wide layers at large batches.
"""
import cupy

from . import cpu
from .cpu import WindowKernels

# Column bytes per block of output rows: one block for LeNet-sized layers; a 64-channel 3x3 layer
# on 28x28 at batch 1024 (1.8 GB of columns) runs in 8 blocks.
_BLOCK_BYTES = 256 << 20


def row_blocks(rows, row_bytes):
    """[(start, stop), ...]: `rows` output rows in blocks of about `_BLOCK_BYTES` of columns (see cpu.py)."""
    return cpu.row_blocks(rows, row_bytes, _BLOCK_BYTES)


def matmul(a, b, out=None):
    """a (G, M, K) · b (G, K, P) -> (G, M, P), copied into `out` when given; one cuBLAS call (cpu.py
    slices P for OpenBLAS). CuPy's own `out=` has had gaps for strided outputs, hence the copy."""
    y = a @ b
    if out is None:
        return y
    out[...] = y
    return out


def matmul_nt(a, b):
    """a (G, M, P) · bᵀ with b (G, K, P): (G, M, K); one cuBLAS call (cpu.py slices P for OpenBLAS)."""
    return a @ b.transpose(0, 2, 1)


_kernels = WindowKernels(cupy)
pad, windows, im2col, col2im = _kernels.pad, _kernels.windows, _kernels.im2col, _kernels.col2im
full_batch_last, batch_last = _kernels.full_batch_last, _kernels.batch_last
