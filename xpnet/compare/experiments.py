"""The three experiments of `xpnet compare` and the variants each one trains.

A `Variant` is all that differs between the runs of one experiment: the model (a name in
`xpnet.models.MODELS` and its keyword arguments) and the optimizer (a class in `xpnet.optim`
and its keyword arguments, the learning rate included). Each result stores its variant, so a
resumed run can tell a finished variant from one trained with other settings.
"""
import dataclasses
import json
import re

from .. import optim
from ..models import MODELS, get_activation, get_model

ACTIVATIONS = ("relu", "leaky_relu:0.01", "leaky_relu:0.001", "prelu", "elu", "gelu", "sigmoid", "tanh", "softplus")

# name: (class in xpnet.optim, default learning rate, other keyword arguments). The rates are constant over
# the run: the usual starting points for each rule (momentum's 0.01 moves about as far per step as plain
# SGD's 0.1); at batch 64 each took LeNet-5 to 97.9-98.4% on MNIST in 3 epochs (README, Experiments).
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

# name: (model in xpnet.models, keyword arguments). fc_net is the mlp's 784-400-100-10 with batch norm
# and dropout added, so the two rows differ by just those.
MODEL_VARIANTS = {
    "mlp": ("mlp", {}),
    "fc_net": ("fc_net", {"hidden": (400, 100), "norm": "batch", "dropout": 0.2}),
    "simple_cnn": ("simple_cnn", {}),
    "lenet5": ("lenet5", {}),
    "fashion_cnn": ("fashion_cnn", {}),
}


@dataclasses.dataclass(frozen=True)
class Variant:
    """One entry of a comparison: a named model and optimizer setting."""

    name: str
    model: str
    model_kwargs: dict
    optimizer: str
    optimizer_kwargs: dict

    @property
    def slug(self):
        """The name as a file name: runs of characters other than letters, digits, '.' and '-' become '_'."""
        return re.sub(r"[^A-Za-z0-9.-]+", "_", self.name)

    def as_dict(self):
        """The variant as JSON would return it (tuples as lists), so stored and new variants compare equal."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def build(self):
        """A new (model, optimizer) pair; seed the backend first for reproducible weights."""
        model = get_model(self.model, **self.model_kwargs)
        return model, getattr(optim, self.optimizer)(model.parameters(), **self.optimizer_kwargs)


def _optimizer(name, lr=None):
    """(class name, keyword arguments) of optimizer `name` at `lr`, or at its default rate."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}: expected one of {', '.join(OPTIMIZERS)}")
    cls, default_lr, kwargs = OPTIMIZERS[name]
    return cls, {"lr": default_lr if lr is None else lr, **kwargs}


def _check_model(name):
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}: expected one of {', '.join(MODELS)}")


def activations(names=ACTIVATIONS, model="lenet5", optimizer="adam", lr=None):
    """One variant per activation spec (any `get_activation` accepts), all with the same model and optimizer."""
    _check_model(model)
    for spec in names:
        get_activation(spec)  # a bad name fails here, before anything trains
    return [Variant(spec, model, {"activation": spec}, *_optimizer(optimizer, lr)) for spec in names]


def optimizers(names=tuple(OPTIMIZERS), model="lenet5", lr=None, sweep=None):
    """One variant per optimizer at its default rate (or `lr`); `sweep` {name: [lr, ...]} instead gives one
    variant per listed rate, named like "adam lr=0.0003"."""
    _check_model(model)
    if sweep:
        return [Variant(f"{name} lr={rate:g}", model, {}, *_optimizer(name, rate))
                for name, rates in sweep.items() for rate in rates]
    return [Variant(name, model, {}, *_optimizer(name, lr)) for name in names]


def models(names=tuple(MODEL_VARIANTS), optimizer="adam", lr=None):
    """One variant per entry of `MODEL_VARIANTS`, all with the same optimizer."""
    unknown = [n for n in names if n not in MODEL_VARIANTS]
    if unknown:
        raise ValueError(f"unknown model(s) {', '.join(unknown)}: expected some of {', '.join(MODEL_VARIANTS)}")
    return [Variant(name, *MODEL_VARIANTS[name], *_optimizer(optimizer, lr)) for name in names]


EXPERIMENTS = {  # name: (its variants by default, what it compares)
    "activations": (ACTIVATIONS, "the same model with each activation function"),
    "optimizers": (tuple(OPTIMIZERS), "one model with each optimizer at its own learning rate"),
    "models": (tuple(MODEL_VARIANTS), "the built-in models: accuracy, parameters and time"),
}


def check_unique(variants):
    """ValueError when two variants share a name or a file name (their results would overwrite each other)."""
    seen = {}
    for v in variants:
        if v.slug in seen:
            raise ValueError(f"variants {seen[v.slug]!r} and {v.name!r} would share the result file {v.slug}: "
                             f"list each once")
        seen[v.slug] = v.name
    return variants
