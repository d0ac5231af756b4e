"""Optimizers, learning-rate schedules and gradient clipping, matching `torch.optim` step for step."""
from . import lr_scheduler
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .clip import clip_grad_norm_
from .lr_scheduler import (CosineAnnealingLR, ExponentialLR, LinearLR, LRScheduler, MultiStepLR, OneCycleLR,
                           ReduceLROnPlateau, StepLR)
from .optimizer import Optimizer
from .radam import RAdam
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Adagrad", "Adam", "AdamW", "CosineAnnealingLR", "ExponentialLR", "LRScheduler", "LinearLR",
           "MultiStepLR", "OneCycleLR", "Optimizer", "RAdam", "RMSprop", "ReduceLROnPlateau", "SGD", "StepLR",
           "clip_grad_norm_", "lr_scheduler"]
