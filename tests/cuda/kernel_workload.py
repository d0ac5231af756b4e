"""The xpnet computations whose custom-kernel launches test_cuda_compile.py compiles: whatever layouts
they launch a kernel with are the layouts it must compile for.

`run()` (on the installed stand-in) runs every case of the parity catalogue (each layer, loss,
optimizer and model, float64 and float32) on the gpu backend, a Trainer-style Adam step of every
built-in model on contiguous and on non-contiguous input, and the convolutions again in row blocks
of one output row (as wide layers at large batches run). New layers, optimizers and models join
through the catalogue and xpnet.models, new kernels through the layers that call them.
"""
import numpy

from xpnet import backend
from xpnet.bench.training import xpnet_step
from xpnet.models import MODELS, get_model
from xpnet.parity import catalogue, run_side

BATCH = 2


def training_steps(dtype, transposed):
    """One Adam training step of each built-in model at batch BATCH, on input stored NCHW, or as a
    transposed view (H and W swapped) that no layer gets from another."""
    gen = numpy.random.default_rng(0)
    with backend.default_dtype(dtype):
        for name in MODELS:
            backend.seed(0)
            model = get_model(name)
            shape = (BATCH, 1, 28, 28)
            x = backend.asarray(gen.standard_normal(shape), dtype)
            if transposed:
                x = backend.xp.swapaxes(backend.asarray(gen.standard_normal(shape), dtype), 2, 3)
            xpnet_step(model)(x, backend.asarray(gen.integers(0, 10, BATCH)))


def run():
    """Run the workload on the gpu backend (the stand-in must be installed)."""
    for case in catalogue():
        run_side(case, "gpu")
    for dtype in ("float32", "float64"):
        for transposed in (False, True):
            training_steps(dtype, transposed)
    import xpnet.backend.gpu as gpu
    saved, gpu._BLOCK_BYTES = gpu._BLOCK_BYTES, 1
    try:
        for case in catalogue():
            if "Conv" in case.name or ("lenet5" in case.name and case.depth == 1):  # not the 20-step runs
                run_side(case, "gpu")
    finally:
        gpu._BLOCK_BYTES = saved
