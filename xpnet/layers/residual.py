"""`Residual`: y = body(x) + shortcut(x), the building block of ResNets (He et al., 2016)."""
from .base import Layer


class Residual(Layer):
    """Adds a shortcut around `body`; `shortcut=None` is the identity (no parameters, no child).

    Children are named "body" and "shortcut", so state_dict keys read "body.0.weight".
    `needs_input_grad` is passed on to both children, which then skip their input gradients.
    """

    def __init__(self, body, shortcut=None):
        super().__init__()
        for name, layer in (("body", body), ("shortcut", shortcut)):
            if layer is not None and not isinstance(layer, Layer):
                raise TypeError(f"Residual {name} must be a Layer, got {type(layer).__name__}")
        self.body = body
        self.shortcut = shortcut
        self.needs_input_grad = self.needs_input_grad

    def _input_children(self):
        return [child for _, child in self.named_children()]

    def forward(self, x):
        y = self.body(x)
        s = x if self.shortcut is None else self.shortcut(x)
        if y.shape != s.shape:
            raise ValueError(f"Residual: body output shape {tuple(y.shape)} differs from shortcut output "
                             f"shape {tuple(s.shape)} for input shape {tuple(x.shape)}")
        return y + s

    def backward(self, dy):
        dx = self.body.backward(dy)
        ds = dy if self.shortcut is None else self.shortcut.backward(dy)
        return dx + ds if self.needs_input_grad else None

    def export_onnx(self, graph, x):
        """ONNX Add of the body's and the shortcut's outputs."""
        shortcut = x if self.shortcut is None else graph.export(self.shortcut, x, "shortcut")
        return graph.op("Add", graph.export(self.body, x, "body"), shortcut)
