"""CuPy kernels behind `xpnet.backend.ops` on the GPU.

For now the window kernels are cpu.py's, bound to CuPy: strided views, one copy
for im2col and kh*kw strided additions for col2im, all generic CuPy operations.
Fused ElementwiseKernels (im2col with implicit padding, a gather-form col2im)
are the natural next step; they are not written yet because they could not be
run on a GPU here.
"""
import cupy

from .cpu import WindowKernels


def matmul(a, b):
    """a (G, M, K) · b (G, K, P) -> (G, M, P); one cuBLAS call (cpu.py slices P for OpenBLAS)."""
    return a @ b


def matmul_nt(a, b):
    """a (G, M, P) · bᵀ with b (G, K, P): (G, M, K); one cuBLAS call (cpu.py slices P for OpenBLAS)."""
    return a @ b.transpose(0, 2, 1)


_kernels = WindowKernels(cupy)
pad, windows, im2col, col2im = _kernels.pad, _kernels.windows, _kernels.im2col, _kernels.col2im
full_batch_last, batch_last = _kernels.full_batch_last, _kernels.batch_last
