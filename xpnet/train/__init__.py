"""Training: `Trainer` (fit / evaluate / predict), `History`, and checkpoints PyTorch can read."""
from .checkpoint import load_checkpoint, load_weights, save_checkpoint, save_weights
from .history import History
from .trainer import Trainer

__all__ = ["History", "Trainer", "load_checkpoint", "load_weights", "save_checkpoint", "save_weights"]
