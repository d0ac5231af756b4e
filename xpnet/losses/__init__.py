"""Losses: `loss(pred, target)` gives a 0-d backend array (no host sync); `loss.backward()` gives d loss / d pred.

Each is also available under its PyTorch name (CrossEntropyLoss, MSELoss, ...).
"""
from .base import Loss
from .bce import BCEWithLogits
from .cross_entropy import SoftmaxCrossEntropy
from .margin import MultiMargin
from .regression import L1, MSE, Huber

CrossEntropyLoss, BCEWithLogitsLoss, MultiMarginLoss = SoftmaxCrossEntropy, BCEWithLogits, MultiMargin
MSELoss, L1Loss, HuberLoss = MSE, L1, Huber

__all__ = ["BCEWithLogits", "BCEWithLogitsLoss", "CrossEntropyLoss", "Huber", "HuberLoss", "L1", "L1Loss", "Loss",
           "MSE", "MSELoss", "MultiMargin", "MultiMarginLoss", "SoftmaxCrossEntropy"]
