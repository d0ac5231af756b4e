"""Losses: `loss(pred, target)` gives a 0-d backend array (no host sync); `loss.backward()` gives d loss / d pred."""
from .bce import BCEWithLogits
from .cross_entropy import SoftmaxCrossEntropy
from .margin import MultiMargin
from .regression import L1, MSE, Huber

__all__ = ["BCEWithLogits", "Huber", "L1", "MSE", "MultiMargin", "SoftmaxCrossEntropy"]
