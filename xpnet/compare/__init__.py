"""`xpnet compare`: the classic experiments of NumPy CNN projects, one command each.

    xpnet compare activations   one model (LeNet-5) with relu, leaky_relu, prelu, elu, gelu, sigmoid, tanh, softplus
    xpnet compare optimizers    one model with sgd, momentum, nesterov, adagrad, rmsprop, adam, adamw, radam
    xpnet compare models        mlp, fc_net, simple_cnn, lenet5, fashion_cnn: accuracy, parameters, time

`experiments` defines the variants, `runner` trains them through the public API (models,
DataLoader, Trainer, optimizers), `folder` keeps each finished one so a run resumes, `report` and
`pictures` summarise them. The command line is xpnet/cli/compare.py.
"""
from .experiments import ACTIVATIONS, EXPERIMENTS, MODEL_VARIANTS, OPTIMIZERS, Variant, activations, models, optimizers
from .folder import RunFolder, Settings
from .report import summarize
from .runner import load_data, run, train_variant

__all__ = ["ACTIVATIONS", "EXPERIMENTS", "MODEL_VARIANTS", "OPTIMIZERS", "RunFolder", "Settings", "Variant",
           "activations", "load_data", "models", "optimizers", "run", "summarize", "train_variant"]
