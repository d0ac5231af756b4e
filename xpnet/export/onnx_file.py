"""`to_onnx(model, input_shape)`: a model as an ONNX file that ONNX Runtime (or any ONNX runtime) runs.

The file holds the eval-mode forward pass in standard ONNX operators (each layer's
`export_onnx`, see graph.py), the weights as float32 initializers named by their
state_dict keys, one input "input" whose first (batch) axis is dynamic, one output
"output", the producer (xpnet and its version), and as `metadata_props` the same
strings a model file's safetensors metadata holds (model, classes, preprocessing...).
"""
import json

import numpy as host  # the sample input is made on the host

import onnx
from onnx import TensorProto, helper

from ..backend import asarray, get_default_dtype
from ..errors import is_int
from ..io import write_bytes
from .graph import Graph

MIN_OPSET = 17  # LayerNormalization
DEFAULT_OPSET = 17
BATCH = "batch"


def _check_shape(input_shape):
    shape = tuple(input_shape) if isinstance(input_shape, (tuple, list)) else None
    if not shape or not all(is_int(d) and d >= 1 for d in shape):
        raise ValueError(f"to_onnx: input_shape must be the shape of an input batch, positive ints such as "
                         f"(1, 1, 28, 28), got {input_shape!r}")
    return shape


def _check_opset(opset):
    top = onnx.defs.onnx_opset_version()
    if not (isinstance(opset, int) and MIN_OPSET <= opset <= top):
        raise ValueError(f"ONNX opset must be an int from {MIN_OPSET} to {top} (this onnx package's newest), "
                         f"got {opset!r}")
    return opset


def _strings(metadata):
    """The metadata as strings: strings as they are, anything else JSON-encoded (as model files keep it)."""
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in dict(metadata or {}).items()}


def to_onnx(model, input_shape, metadata=None, opset=DEFAULT_OPSET, name=None):
    """The onnx.ModelProto of `model`'s eval-mode forward pass on float32 inputs shaped as `input_shape`
    (a batch, e.g. (1, 1, 28, 28); the batch axis stays free in the file). `metadata`: strings (or
    JSON-able values) for metadata_props, e.g. a model file's. A layer that cannot export raises a
    ValueError naming it. The model is left in the training mode it was in."""
    from .. import __version__

    shape, opset = _check_shape(input_shape), _check_opset(opset)
    modes = [(m, m.training) for m in model.modules()]
    graph = Graph(opset)
    try:
        model.eval()
        graph.begin("input", asarray(host.zeros(shape), get_default_dtype()))
        out = graph.export(model, "input")
        out_shape = graph.shape(out)
    finally:
        for m, mode in modes:
            m.training = mode
    if out == "input" or out in {i.name for i in graph.initializers}:
        out = graph.op("Identity", out)
    graph.rename(out, "output")
    proto = helper.make_graph(
        graph.nodes, name or type(model).__name__,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [BATCH, *shape[1:]])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [BATCH, *out_shape[1:]])],
        graph.initializers)
    opsets = [helper.make_opsetid("", opset)]
    result = helper.make_model(proto, opset_imports=opsets, producer_name="xpnet", producer_version=__version__,
                               ir_version=helper.find_min_ir_version_for(opsets))
    helper.set_model_props(result, _strings(metadata))
    return result


def save(proto, path):
    """Write the ONNX model `proto` to `path` atomically; returns the path."""
    write_bytes(path, proto.SerializeToString())
    return path
