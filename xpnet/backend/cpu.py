"""NumPy kernels behind `xpnet.backend.ops` on the CPU."""
