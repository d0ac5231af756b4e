"""Training recipes: one optimizer table for `xpnet train` and `xpnet compare`, and the options a recipe fills in."""
import argparse

import pytest

from xpnet import optim
from xpnet.cli.train import _apply_recipe
from xpnet.layers import Dense
from xpnet.train.recipes import (DEFAULT_RECIPE, OPTIMIZERS, RECIPES, build_optimizer, build_scheduler,
                                 optimizer_spec, recipe)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_each_optimizer_builds_at_its_default_rate(name):
    cls, lr, kwargs = OPTIMIZERS[name]
    opt = build_optimizer(name, Dense(3, 2).parameters())
    group = opt.param_groups[0]
    assert type(opt) is getattr(optim, cls) and group["lr"] == lr
    assert all(group[k] == v for k, v in kwargs.items())


def test_overrides_replace_the_table_and_none_keeps_it():
    assert optimizer_spec("momentum", 0.5, momentum=0.8, weight_decay=None) == ("SGD", {"momentum": 0.8, "lr": 0.5})
    assert optimizer_spec("nesterov")[1] == {"momentum": 0.9, "nesterov": True, "lr": 0.01}


def test_an_option_the_optimizer_does_not_take_is_refused():
    with pytest.raises(ValueError, match="optimizer adam \\(Adam\\) takes no momentum"):
        optimizer_spec("adam", momentum=0.9)
    with pytest.raises(ValueError, match="unknown optimizer 'lbfgs': expected one of sgd, momentum"):
        optimizer_spec("lbfgs")


def test_onecycle_peaks_at_the_optimizers_rate():
    opt = build_optimizer("adam", Dense(3, 2).parameters(), 0.02)
    sched = build_scheduler("onecycle", opt, epochs=3, steps_per_epoch=10)
    assert isinstance(sched, optim.OneCycleLR) and sched.total_steps == 30
    rates = []
    for _ in range(30):
        rates.append(opt.param_groups[0]["lr"])
        sched.step()
    assert max(rates) == pytest.approx(0.02)
    assert build_scheduler("none", opt, 3, 10) is None
    with pytest.raises(ValueError, match="unknown scheduler 'linear'"):
        build_scheduler("linear", opt, 3, 10)


def _args(**given):
    args = argparse.Namespace(model="lenet5", **{k: None for k in DEFAULT_RECIPE})
    vars(args).update(given)
    _apply_recipe(args)
    return {k: getattr(args, k) for k in DEFAULT_RECIPE}


def test_the_recipe_fills_in_only_what_was_not_given():
    assert _args() == recipe("lenet5") == {**DEFAULT_RECIPE, **RECIPES["lenet5"]}
    assert _args(epochs=1, lr=0.5)["epochs"] == 1 and _args(epochs=1, lr=0.5)["lr"] == 0.5
    assert _args(model="mlp") == DEFAULT_RECIPE


def test_another_optimizer_than_the_recipes_takes_its_own_rate():
    assert _args(optimizer="sgd")["lr"] == OPTIMIZERS["sgd"][1]
    assert _args(optimizer="adam")["lr"] == DEFAULT_RECIPE["lr"]  # the recipe's optimizer keeps the recipe's rate
    assert _args(optimizer="sgd", lr=0.3)["lr"] == 0.3
