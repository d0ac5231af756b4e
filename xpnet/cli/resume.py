"""`xpnet train --resume`: a resumed run continues with the settings it was started with.

The checkpoint holds the optimizer's and scheduler's state, so a resumed run cannot switch optimizer,
learning rate or schedule without that state meaning something else; the data loader's shuffle state
belongs to its batch size, seed and shift. So every training option is taken from the run's
config.json, an option given again must equal it, and only --epochs may change (not for a one-cycle
schedule, which is shaped by the run's length and ends at its last epoch). A conflict is refused before
anything is written, so the run folder stays as it was.
"""
import argparse

from ..errors import ConfigError, shown
from ..train.metadata import model_arguments
from .checkpoint import read_config

FIXED = ("optimizer", "lr", "weight_decay", "momentum", "scheduler", "shift", "batch_size", "seed")


def _option(key):
    return "--" + key.replace("_", "-")


def resumed_config(args, run_dir):
    """The config of the run in `run_dir` that `args` (parsed `xpnet train --resume` options) continues;
    fills the options left out from it, and raises ConfigError for any that conflict."""
    config = read_config(run_dir)
    if config is None:
        raise ConfigError(f"--resume: {run_dir} holds no run to resume (no config.json); train without --resume "
                          "to start one")
    if (config["model"], config.get("dataset")) != (args.model, args.dataset):
        raise ConfigError(f"{run_dir} holds a {shown(config['model'])} run on {shown(config.get('dataset'))}: "
                          f"cannot resume it as {args.model} on {args.dataset}")
    saved = config.get("train_args") or {}
    if not isinstance(saved, dict):
        raise ConfigError(f"{run_dir}/config.json: train_args {shown(saved)}, expected a JSON object")
    conflicts = [f"{_option(k)} {getattr(args, k)} (the run has {shown(saved[k])})" for k in FIXED
                 if k in saved and getattr(args, k) is not None and getattr(args, k) != saved[k]]
    if conflicts:
        raise ConfigError(f"--resume continues the run in {run_dir} with its own settings, and only --epochs may "
                          f"change: {'; '.join(conflicts)}. Leave these options out, or train into another --out")
    for key in FIXED:
        if key in saved and getattr(args, key) is None:
            setattr(args, key, _checked(key, saved[key], run_dir))
    planned = saved.get("epochs")
    if planned is not None:
        _checked("epochs", planned, run_dir)
    if args.epochs is None:
        args.epochs = planned
    if saved.get("scheduler") == "onecycle" and planned is not None and args.epochs != planned:
        raise ConfigError(f"--epochs {args.epochs}: the run in {run_dir} follows a one-cycle schedule over its "
                          f"{planned} epoch{'' if planned == 1 else 's'}, which cannot be stretched (it ends at its "
                          f"lowest rate); resume with --epochs {planned}, or train a new run into another --out")
    config["model_kwargs"] = config.get("model_kwargs", {})
    model_arguments(config["model"], config["model_kwargs"], f"{run_dir}/config.json")
    return config


def _checked(key, value, run_dir):
    """A training option recorded in config.json, checked as the command line checks it (its choices, or the
    type its parser reads it with); a float option may be recorded as None (not given, no recipe default)."""
    from ..train.recipes import OPTIMIZERS, SCHEDULERS
    from .options import FLOAT_RANGES, TRAIN_TYPES
    choices = {"optimizer": tuple(OPTIMIZERS), "scheduler": SCHEDULERS}.get(key)
    problem = None
    if choices is not None:
        if not (isinstance(value, str) and value in choices):
            problem = f"expected one of {', '.join(choices)}"
    elif value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        if not (value is None and key in FLOAT_RANGES):
            problem = "expected a number"
    else:
        try:
            TRAIN_TYPES[key](str(value))
        except argparse.ArgumentTypeError as exc:
            problem = str(exc)
    if problem:
        raise ConfigError(f"{run_dir}/config.json: {_option(key)} recorded as {shown(value)}, which the command line "
                          f"would refuse: {problem}")
    return value
