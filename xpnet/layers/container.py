"""`Sequential`: layers applied in order."""
from .base import Layer


class Sequential(Layer):
    """Layers applied in order; indexable, `len()`-able, children named "0", "1", ... as in PyTorch.

    Only the first layer's input gradient depends on `needs_input_grad`; setting it
    to False (as the Trainer does) lets the first layer skip that work.
    """

    def __init__(self, *layers):
        super().__init__()
        for layer in layers:
            self.append(layer)

    def _input_children(self):
        return [getattr(self, next(iter(self._children)))] if self._children else []

    def append(self, layer):
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential takes Layer instances, got {type(layer).__name__}")
        setattr(self, str(len(self._children)), layer)
        if len(self._children) == 1:  # a first layer gets the setting; appending the n-th layer costs O(1)
            layer.needs_input_grad = self.needs_input_grad
        return self

    def __getitem__(self, index):
        if not isinstance(index, slice):
            return getattr(self, list(self._children)[index])
        layers = [getattr(self, name) for name in self._children]
        part = Sequential()
        for i, layer in enumerate(layers[index]):
            setattr(part, str(i), layer)  # not append(): the shared layers keep their needs_input_grad
        if len(part):
            part.__dict__["_needs_input_grad"] = part[0].needs_input_grad
        return part

    def __len__(self):
        return len(self._children)

    def __iter__(self):
        return (getattr(self, name) for name in self._children)

    def forward(self, x):
        for layer in self:
            x = layer(x)
        return x

    def backward(self, dy):
        for name in reversed(self._children):
            dy = getattr(self, name).backward(dy)
        return dy

    def export_onnx(self, graph, x):
        """Each layer's export applied in order."""
        for name in self._children:
            x = graph.export(getattr(self, name), x, name)
        return x
