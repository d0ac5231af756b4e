"""xpnet: a readable CNN framework on NumPy or CuPy, through one array module `xp`."""
from . import backend, data, init, layers, losses, models, optim, train
from .gradcheck import gradcheck
from .layers import Layer, Sequential
from .parameter import Parameter

__version__ = "0.1.0"

__all__ = ["Layer", "Parameter", "Sequential", "backend", "data", "gradcheck", "init", "layers", "losses", "models",
           "optim", "train"]
