"""Layers, NCHW, with PyTorch's argument names, defaults and weight shapes.

PyTorch spellings (`Linear`, `Conv2d`, `BatchNorm2d`, ...) are aliases of the same classes.
"""
from .activation import ELU, GELU, LeakyReLU, PReLU, ReLU, Sigmoid, Softplus, Tanh
from .base import Layer
from .batchnorm import BatchNorm1D, BatchNorm2D
from .container import Sequential
from .conv import Conv2D
from .conv_transpose import ConvTranspose2D
from .dense import Dense
from .dropout import Dropout
from .fusion import fuse, fuse_conv_bn_eval, fuse_linear_bn_eval
from .groupnorm import GroupNorm
from .layernorm import LayerNorm
from .pool import AvgPool2D, GlobalAvgPool2D, MaxPool2D
from .reshape import Flatten, Identity
from .residual import Residual
from .softmax import LogSoftmax, Softmax

Linear, Conv2d, ConvTranspose2d, MaxPool2d, AvgPool2d = Dense, Conv2D, ConvTranspose2D, MaxPool2D, AvgPool2D
BatchNorm1d, BatchNorm2d = BatchNorm1D, BatchNorm2D

__all__ = ["AvgPool2D", "AvgPool2d", "BatchNorm1D", "BatchNorm1d", "BatchNorm2D", "BatchNorm2d", "Conv2D", "Conv2d",
           "ConvTranspose2D", "ConvTranspose2d", "Dense", "Dropout", "ELU", "Flatten", "GELU", "GlobalAvgPool2D",
           "GroupNorm", "Identity", "Layer", "LayerNorm", "LeakyReLU", "Linear", "LogSoftmax", "MaxPool2D",
           "MaxPool2d", "PReLU", "ReLU", "Residual", "Sequential", "Sigmoid", "Softmax", "Softplus", "Tanh", "fuse",
           "fuse_conv_bn_eval", "fuse_linear_bn_eval"]
