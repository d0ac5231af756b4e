"""Export to ONNX (the `onnx` extra: `pip install "xpnet[onnx]"`): `to_onnx(model, input_shape)` and `save`.

Each layer says how it exports in its own `export_onnx(graph, x)` method (graph.py has the contract).
"""
try:
    import onnx  # noqa: F401
except ImportError as exc:
    raise ImportError(f"exporting to ONNX needs the onnx package ({exc}): pip install \"xpnet[onnx]\" "
                      "(onnx and onnxruntime)") from exc

from .graph import Graph, check_exportable
from .onnx_file import DEFAULT_OPSET, MIN_OPSET, save, to_onnx

__all__ = ["DEFAULT_OPSET", "Graph", "MIN_OPSET", "check_exportable", "save", "to_onnx"]
