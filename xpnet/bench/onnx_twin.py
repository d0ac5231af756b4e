"""`onnx_twin(onnxruntime, model, input_shape)`: the model exported by xpnet.export, in an ONNX Runtime session.

It is what deploying the model would give: the inference section times it beside xpnet
and PyTorch on the CPU. ONNX Runtime gets the same thread count as the BLAS and PyTorch.
"""
import importlib
import os


def onnxruntime(switched_off=False):
    """The onnxruntime module, or None when switched off or when it or onnx is not installed."""
    if switched_off:
        return None
    try:
        importlib.import_module("onnx")
        return importlib.import_module("onnxruntime")
    except ImportError:
        return None


def onnx_twin(ort, model, input_shape, threads=None):
    """`run(x)`: ONNX Runtime's output of `model`, exported for inputs shaped as `input_shape` (its batch axis
    free), on host float32 array `x`."""
    from ..export import to_onnx
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or os.cpu_count()
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(to_onnx(model, input_shape).SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    return lambda x: session.run(None, {"input": x})[0]
