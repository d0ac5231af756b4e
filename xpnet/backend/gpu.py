"""CuPy kernels behind `xpnet.backend.ops` on the GPU."""
