"""Training: `Trainer` (fit / evaluate / predict), `History`, checkpoints PyTorch can read, model files
that say what they hold (`read_metadata`, `load_model`), and `classify` for a user's own pictures."""
from .checkpoint import load_checkpoint, load_weights, save_checkpoint, save_weights
from .classify import classify
from .history import History
from .model_file import describe, load_model, read_metadata
from .trainer import Trainer, TrainingDiverged

__all__ = ["History", "Trainer", "TrainingDiverged", "classify", "describe", "load_checkpoint", "load_model",
           "load_weights", "read_metadata", "save_checkpoint", "save_weights"]
