"""`Parameter`: a trainable array and the gradient accumulated for it."""
from .backend import xp


class Parameter:
    """Holds `.data` and `.grad` (arrays on the backend, `.grad` None until a backward pass).

    Gradients accumulate into `.grad` until cleared (`grad = None`), as in PyTorch.
    """

    __slots__ = ("data", "grad", "name")

    def __init__(self, data, name=""):
        self.data = data
        self.grad = None
        self.name = name

    def accumulate(self, g):
        """Add `g` into `.grad` (in place once it exists)."""
        if self.grad is None:
            self.grad = xp.array(g, dtype=self.data.dtype, copy=True) if g.dtype != self.data.dtype else g.copy()
        else:
            self.grad += g

    @property
    def shape(self):
        return self.data.shape

    def __repr__(self):
        return f"Parameter(name={self.name!r}, shape={tuple(self.data.shape)}, dtype={self.data.dtype})"
