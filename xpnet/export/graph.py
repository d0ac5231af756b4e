"""`Graph`: what a layer's `export_onnx(graph, x)` builds its ONNX nodes with.

The contract of every layer: `export_onnx(graph, x)` takes the name of its input
tensor, adds the standard ONNX operators that compute its eval-mode forward pass
(`graph.op`), its weights as initializers named by their state_dict keys
(`graph.param`), and returns the name of its output tensor. A container exports
its children with `graph.export(child, x, name)`. While it builds, the graph runs
each layer once on a sample input, so an exporter can ask for the rank or the
sizes of its input (`graph.shape`).
"""
import numpy as host  # initializers are host arrays
from onnx import helper, numpy_helper

from ..backend import to_numpy
from ..parameter import Parameter

FORWARD_METHODS = ("forward", "_forward", "_normalise")  # where a layer says how it computes


def _owner(cls, attr):
    return next((c for c in cls.__mro__ if attr in c.__dict__), None)


def check_exportable(layer):
    """Raise ValueError naming `layer`'s class unless it says how it exports: a method `export_onnx` defined
    in the class that computes its forward pass, or below it (a subclass that changes the forward pass of an
    exportable layer must say how it exports too)."""
    cls = type(layer)
    exporter = _owner(cls, "export_onnx")
    computes = [c for c in (_owner(cls, m) for m in FORWARD_METHODS) if c is not None]
    if exporter is None or not all(issubclass(exporter, c) for c in computes):
        raise ValueError(f"{cls.__name__} cannot be exported to ONNX: it has no export_onnx(graph, x) method "
                         f"{'of its own ' if exporter else ''}saying which ONNX operators compute its forward pass "
                         "(see xpnet/export/graph.py)")


class Graph:
    """The nodes, initializers and sample values of an ONNX graph being built at opset `opset`."""

    def __init__(self, opset):
        self.opset = opset
        self.nodes, self.initializers = [], []
        self._samples = {}
        self._scope = []
        self._count = 0
        self._names = {"input", "output"}  # the graph's own

    # -- what layers call -----------------------------------------------------
    def export(self, layer, x, name=""):
        """The output name of `layer` (a child called `name` of the layer being exported) applied to `x`."""
        check_exportable(layer)
        self._scope.append(name)
        try:
            y = layer.export_onnx(self, x)
        finally:
            self._scope.pop()
        if y not in self._samples:
            self._samples[y] = layer(self._samples[x])
        return y

    def shape(self, x):
        """The shape of tensor `x` (an exported layer's input) on the sample input; its batch axis is the sample's."""
        return tuple(self._samples[x].shape)

    def param(self, key, value, shape=None):
        """The name of an initializer holding `value` (a Parameter, a backend or host array; None gives None)
        as float32, reshaped to `shape` when given, named `<layer's state_dict prefix><key>`."""
        if value is None:
            return None
        array = to_numpy(value.data if isinstance(value, Parameter) else value).astype(host.float32)
        return self._initializer(key, array if shape is None else array.reshape(shape))

    def const(self, values, dtype="float32"):
        """The name of a constant initializer (e.g. the int64 target shape of a Reshape)."""
        return self._initializer("const", host.asarray(values, dtype=dtype))

    def ones(self, shape):
        """The name of a float32 constant of ones (a scale that changes nothing)."""
        return self.const(host.ones(shape))

    def op(self, op_type, *inputs, **attributes):
        """The output name of a new `op_type` node on `inputs` (None for an absent optional input)."""
        names = ["" if i is None else i for i in inputs]
        while names and names[-1] == "":
            names.pop()
        out = self._unique(f"{self._prefix()}{op_type}")
        self.nodes.append(helper.make_node(op_type, names, [out], name=out, **attributes))
        return out

    def normalize(self, x, lead, groups, eps, scale=None, bias=None):
        """`x` viewed as (lead, groups, rest), with lead 0 keeping x's first size, each of those rows brought to
        zero mean and unit (biased) variance + eps by InstanceNormalization, then times `scale` plus `bias`
        (per group; 1 and 0 when None), and given x's shape back."""
        rows = self.op("Reshape", x, self.const([lead, groups, -1], "int64"))
        unit = self.op("InstanceNormalization", rows, scale or self.ones(groups),
                       bias or self.const(host.zeros(groups)), epsilon=float(eps))
        return self.op("Reshape", unit, self.op("Shape", x))

    # -- what to_onnx calls ---------------------------------------------------
    def begin(self, name, sample):
        """Declare the graph input `name`, whose value on the sample batch is `sample`."""
        self._samples[name] = sample

    def rename(self, old, new):
        """Give tensor `old` the name `new` everywhere (the graph's output name)."""
        for node in self.nodes:
            node.input[:] = [new if i == old else i for i in node.input]
            node.output[:] = [new if o == old else o for o in node.output]

    # -- names ----------------------------------------------------------------
    def _prefix(self):
        return "".join(f"{s}." for s in self._scope if s)

    def _unique(self, name):
        """`name`, or `name_<n>` when taken already."""
        self._count += 1
        name = name if name not in self._names else f"{name}_{self._count}"
        self._names.add(name)
        return name

    def _initializer(self, key, array):
        name = self._unique(self._prefix() + key)
        self.initializers.append(numpy_helper.from_array(array, name))
        return name
