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
from ..train.recipes import OPTIMIZERS, optimizer_spec

ACTIVATIONS = ("relu", "leaky_relu:0.01", "leaky_relu:0.001", "prelu", "elu", "gelu", "sigmoid", "tanh", "softplus")

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


def _check_model(name):
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}: expected one of {', '.join(MODELS)}")


def activations(names=ACTIVATIONS, model="lenet5", optimizer="adam", lr=None):
    """One variant per activation spec (any `get_activation` accepts), all with the same model and optimizer."""
    _check_model(model)
    for spec in names:
        get_activation(spec)  # a bad name fails here, before anything trains
    return [Variant(spec, model, {"activation": spec}, *optimizer_spec(optimizer, lr)) for spec in names]


def optimizers(names=tuple(OPTIMIZERS), model="lenet5", lr=None, sweep=None):
    """One variant per optimizer at its default rate (or `lr`); `sweep` {name: [lr, ...]} instead gives one
    variant per listed rate, named like "adam lr=0.0003"."""
    _check_model(model)
    if sweep:
        return [Variant(f"{name} lr={rate:g}", model, {}, *optimizer_spec(name, rate))
                for name, rates in sweep.items() for rate in rates]
    return [Variant(name, model, {}, *optimizer_spec(name, lr)) for name in names]


def models(names=tuple(MODEL_VARIANTS), optimizer="adam", lr=None):
    """One variant per entry of `MODEL_VARIANTS`, all with the same optimizer."""
    unknown = [n for n in names if n not in MODEL_VARIANTS]
    if unknown:
        raise ValueError(f"unknown model(s) {', '.join(unknown)}: expected some of {', '.join(MODEL_VARIANTS)}")
    return [Variant(name, *MODEL_VARIANTS[name], *optimizer_spec(optimizer, lr)) for name in names]


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
