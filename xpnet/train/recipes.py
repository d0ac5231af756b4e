"""Training recipes: optimizers and learning-rate schedules by name, and each built-in model's defaults.

`xpnet train` and `xpnet compare` both build their optimizers from `OPTIMIZERS`, so a name means
the same thing in both commands.
"""
import inspect

from .. import optim

# name: (class in xpnet.optim, default learning rate, other keyword arguments). The rates are the usual
# starting points for each rule when held constant (momentum's 0.01 moves about as far per step as plain
# SGD's 0.1); README's Experiments section shows what each gives LeNet-5.
OPTIMIZERS = {
    "sgd": ("SGD", 0.1, {}),
    "momentum": ("SGD", 0.01, {"momentum": 0.9}),
    "nesterov": ("SGD", 0.01, {"momentum": 0.9, "nesterov": True}),
    "adagrad": ("Adagrad", 0.01, {}),
    "rmsprop": ("RMSprop", 0.001, {}),
    "adam": ("Adam", 0.001, {}),
    "adamw": ("AdamW", 0.001, {}),  # decoupled weight decay 0.01, PyTorch's default
    "radam": ("RAdam", 0.001, {}),
}
SCHEDULERS = ("none", "cosine", "step", "onecycle")

# What `xpnet train` does with the options it is not given. A model listed in RECIPES changes some of them:
# each was chosen by measurement over several seeds (README, Results).
DEFAULT_RECIPE = {"optimizer": "adam", "lr": 3e-3, "scheduler": "onecycle", "batch_size": 64, "epochs": 5,
                  "shift": 0}
RECIPES = {"lenet5": {"epochs": 8, "shift": 2}}


def recipe(model):
    """The training defaults of built-in model `model`."""
    return {**DEFAULT_RECIPE, **RECIPES.get(model, {})}


def optimizer_spec(name, lr=None, **overrides):
    """(class name in xpnet.optim, keyword arguments) of optimizer `name` at rate `lr` (None: its default
    rate), with `overrides` (momentum, weight_decay, ...) replacing the table's values where not None."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}: expected one of {', '.join(OPTIMIZERS)}")
    cls, default_lr, kwargs = OPTIMIZERS[name]
    given = {k: v for k, v in overrides.items() if v is not None}
    takes = inspect.signature(getattr(optim, cls)).parameters
    unknown = [k for k in given if k not in takes]
    if unknown:
        raise ValueError(f"optimizer {name} ({cls}) takes no {', '.join(unknown)}")
    return cls, {**kwargs, **given, "lr": default_lr if lr is None else lr}


def build_optimizer(name, params, lr=None, **overrides):
    """Optimizer `name` over `params` (see `optimizer_spec`)."""
    cls, kwargs = optimizer_spec(name, lr, **overrides)
    return getattr(optim, cls)(params, **kwargs)


def build_scheduler(name, optimizer, epochs, steps_per_epoch):
    """Schedule `name` over a run of `epochs`: epoch-wise ones span the run; OneCycle steps every batch and
    peaks at the optimizer's learning rate. None for "none"."""
    if name not in SCHEDULERS:
        raise ValueError(f"unknown scheduler {name!r}: expected one of {', '.join(SCHEDULERS)}")
    if name == "none":
        return None
    if name == "cosine":
        return optim.CosineAnnealingLR(optimizer, T_max=epochs)
    if name == "step":
        return optim.StepLR(optimizer, step_size=max(1, epochs // 3), gamma=0.1)
    return optim.OneCycleLR(optimizer, max_lr=optimizer.param_groups[0]["lr"], total_steps=epochs * steps_per_epoch)
