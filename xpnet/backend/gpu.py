"""The GPU (CuPy) forms of `xpnet.backend.ops`, with the same names and parameters as cpu.py's.

`im2col` and `col2im` are fused kernels from kernels.py, one launch each where the
generic forms take one strided copy, or kh*kw strided additions. `im2col` runs one
thread per column entry and gathers it from the input through the input's strides;
`col2im` runs one thread per element of the padded image and sums, in a fixed order
and with no atomics, every column entry whose window covers it. Convolutions run in
row blocks far larger than the CPU's: kernel launches, not caches, limit the GPU, and
the blocks only bound the column memory of wide layers at large batches. Elementwise
rules (backend/rules.py) run as the kernels their CUDA bodies compile to, one per rule.
"""
import contextlib
import math

import cupy

from . import cpu, kernels, layout

# Column bytes per block of output rows: one block for LeNet-sized layers; a 64-channel 3x3 layer
# on 28x28 at batch 1024 (1.8 GB of columns) runs in 7 blocks.
_BLOCK_BYTES = 256 << 20

# The engine that reduces arrays of this backend between processes (xpnet/distributed): NCCL on the GPUs.
COMMUNICATOR = "nccl"

# Where this backend's arrays live, as messages about memory name it.
MEMORY = "GPU memory"


class _PeakHook(cupy.cuda.MemoryHook):
    """While active, the bytes of the memory pool's blocks handed out (and not yet returned) since it began,
    and their most: blocks that were held before it began are not counted when they are returned, as Python's
    allocation tracer does not count them either; a failed allocation (pointer 0) holds nothing."""
    name = "xpnet_peak_bytes"

    def __init__(self):
        self.blocks, self.held, self.peak = {}, 0, 0

    def malloc_postprocess(self, **kwargs):
        if kwargs["mem_ptr"]:
            self.blocks[kwargs["mem_ptr"]] = kwargs["mem_size"]
            self.held += kwargs["mem_size"]
            self.peak = max(self.peak, self.held)

    def free_postprocess(self, **kwargs):
        self.held -= self.blocks.pop(kwargs["mem_ptr"], 0)


def peak_bytes(run):
    """The most bytes of device memory that `run()` allocated and held at once (cpu.py's counts host memory),
    from CuPy's memory pool, which reports each block it hands out and gets back in this thread."""
    with _PeakHook() as hook:
        run()
    return hook.peak


def free_bytes():
    """Device memory that new arrays can take now: the device's free memory and the pool's cached blocks,
    within the pool's limit where one is set (CUPY_GPU_MEMORY_LIMIT, `set_limit`)."""
    pool = cupy.get_default_memory_pool()
    free = cupy.cuda.runtime.memGetInfo()[0] + pool.free_bytes()
    return min(free, pool.get_limit() - pool.used_bytes()) if pool.get_limit() else free


def row_blocks(rows, row_bytes):
    """[(start, stop), ...]: `rows` output rows in blocks of about `_BLOCK_BYTES` of columns (see cpu.py)."""
    return cpu.row_blocks(rows, row_bytes, _BLOCK_BYTES)


def block_sizes():
    """One block size: on the GPU the blocks only bound the column memory, so there is nothing to time."""
    return (_BLOCK_BYTES,)


def blocks_of(nbytes):
    """Nothing to change: the GPU's blocks have the one size of `block_sizes()`."""
    return _ONE_SIZE


_ONE_SIZE = contextlib.nullcontext()


def scratch(name, size, dtype):
    """A flat work buffer of `size` elements: a new array here, since CuPy's memory pool already hands
    freed device memory back without a new allocation (cpu.py keeps one per name)."""
    return cupy.empty(size, dtype)


def release_scratch():
    """Nothing to drop: `scratch` keeps no buffers here (cpu.py keeps one per name)."""


def matmul(a, b, out=None):
    """a (G, M, K) · b (G, K, P) -> (G, M, P), copied into `out` when given; one cuBLAS call (cpu.py
    slices P for OpenBLAS). The copy takes `out` with any strides, which a product's `out=` need not."""
    y = a @ b
    if out is None:
        return y
    out[...] = y
    return out


def matmul_nt(a, b):
    """a (G, M, P) · bᵀ with b (G, K, P): (G, M, K); one cuBLAS call (cpu.py slices P for OpenBLAS)."""
    return a @ b.transpose(0, 2, 1)


def matmul_add(a, b, out, add=True):
    """out += a · b (or out = a · b when not `add`) for 2-D `a` (M, K), `b` (K, P) and `out` (M, P), any of them
    strided views; returns `out`."""
    if add:
        out += a @ b
    else:
        out[...] = a @ b
    return out


def _fitting(length, k, s, d):
    """How many windows of `k` taps `d` apart, `s` apart, fit in `length` (0 when none)."""
    return max(0, (length - d * (k - 1) - 1) // s + 1)


def im2col(x, kernel, stride, dilation, size, out=None):
    """The first `size` = (OH, OW) windows of the (already padded) `x` (N, C, H, W, any strides) copied into
    new memory, or into the front of the flat buffer `out`: an (N, C, kh, kw, OH, OW) view of contiguous
    batch-last (C, kh, kw, OH, OW, N) memory, as cpu.py's, by one fused kernel launch."""
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    oh = min(size[0], _fitting(h, kh, sh, dh))  # as the generic slice [:size] of the windows
    ow = min(size[1], _fitting(w, kw, sw, dw))
    shape = (c, kh, kw, oh, ow, n)
    col = cupy.empty(shape, x.dtype) if out is None else out[:math.prod(shape)].reshape(shape)
    kernels.im2col(x.astype(col.dtype, copy=False), n, kh, kw, oh, ow, sh, sw, dh, dw, col)
    return layout.batch_first(col)


def col2im(col, out, stride, dilation):
    """Adjoint of `im2col`: add window entries `col` (N, C, kh, kw, OH, OW, any strides) into the windows of
    the (padded) array `out` (N, C, H, W, any strides), in place, by one fused kernel launch; returns `out`."""
    n, c, kh, kw, oh, ow = col.shape
    if (n, c) != out.shape[:2]:
        raise ValueError(f"col2im: columns {col.shape} do not fit an image of shape {out.shape}")
    h, w = out.shape[2:]
    (sh, sw), (dh, dw) = stride, dilation
    oh = min(oh, _fitting(h, kh, sh, dh))  # windows that do not fit are dropped, as by the generic slice
    ow = min(ow, _fitting(w, kw, sw, dw))
    kernels.col2im(col.astype(out.dtype, copy=False), c, h, w, kh, kw, oh, ow, sh, sw, dh, dw, out)
    return out


def random(shape, dtype):
    """Uniform draws in [0, 1) of `dtype` from CuPy's generator on the device (seeded by `xpnet.backend.seed`),
    so no random numbers cross from the host each step."""
    return cupy.random.random(shape, dtype=dtype)


def max_pool(x, kernel, stride, padding):
    """(y, saved): the maximum of each window of `x` (N, C, H, W, any strides), stored batch-last, and the
    position of each window's first maximum for the backward pass; one kernel launch."""
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    y = layout.empty((n, c, oh, ow), x.dtype)
    arg = cupy.empty((c, oh, ow, n), cupy.int32)
    kernels.max_pool(x, n, h, w, kh, kw, oh, ow, sh, sw, ph, pw, layout.batch_last(y), arg)
    return y, (arg, x.shape, kernel, stride, padding)


def max_pool_backward(dy, saved):
    """dx (N, C, H, W), stored batch-last: each window's gradient routed to its first maximum; one launch."""
    arg, (n, c, h, w), (kh, kw), (sh, sw), (ph, pw) = saved
    oh, ow = dy.shape[2:]
    dx = layout.empty((n, c, h, w), dy.dtype)
    kernels.max_pool_backward(dy, arg, n, h, w, kh, kw, oh, ow, sh, sw, ph, pw, layout.batch_last(dx))
    return dx


_compiled = {}  # rule name -> its ElementwiseKernel, built on first use


def _kernel(rule):
    """The CuPy ElementwiseKernel of `rule` (backend/rules.py), built from its CUDA body once per process;
    CuPy compiles it for each argument layout on first launch and caches the binary."""
    k = _compiled.get(rule.name)
    if k is None:
        k = _compiled[rule.name] = cupy.ElementwiseKernel(rule.in_params, rule.out_params, rule.body, rule.kernel_name)
    return k


def run_elementwise(rule, *args):
    """Run `rule` on the device as its fused kernel: one launch instead of one per xp operation."""
    _kernel(rule)(*(args if rule.kernel_arguments is None else rule.kernel_arguments(*args)))
