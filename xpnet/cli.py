"""The `xpnet` command: train a built-in model, evaluate a run, show the setup, run parity and benchmarks.

    xpnet train [--model lenet5] [--dataset mnist] [--epochs 5] ...   train into runs/<model>-<dataset>/
    xpnet eval --checkpoint runs/lenet5-mnist                          test loss and accuracy of a model
    xpnet predict --checkpoint runs/lenet5-mnist digit.png ...         classify your own pictures
    xpnet info                                                         backend, versions, BLAS, data sets
    xpnet parity ... | xpnet bench ...                                 see `xpnet parity --help`

Exit codes: 0 success, 2 bad command line (argparse lists the valid names), 1 a
failure while running (missing data, no GPU, bad checkpoint, a diverged run, a picture that
could not be read), reported in one line.
"""
import argparse
import importlib
import json
import os
import sys
import warnings
from pathlib import Path

import numpy as host  # host-side labels and predictions for metrics and pictures

from . import __version__, backend
from .data.datasets import DATASETS
from .io import write_json

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad", "radam")
SCHEDULERS = ("none", "cosine", "step", "onecycle")
DELEGATED = {"parity": "check that the GPU backend gives the CPU backend's outputs and gradients",
             "bench": "time layers and training steps on this machine",
             "compare": "train the variants of an experiment (activations, optimizers, models) and compare them"}
PICTURE_COUNT = 36
# What `xpnet train` does when --epochs and --shift are not given: per model, each chosen by
# measurement over several seeds (README, Results); models not listed train with DEFAULT_RECIPE.
DEFAULT_RECIPE = {"epochs": 5, "shift": 0}
RECIPES = {"lenet5": {"epochs": 8, "shift": 2}}


# -- building blocks ------------------------------------------------------------------
def _model_names():
    from .models import MODELS
    return tuple(MODELS)


def _build_optimizer(name, params, lr, weight_decay, momentum):
    from . import optim
    classes = {"sgd": optim.SGD, "adam": optim.Adam, "adamw": optim.AdamW, "rmsprop": optim.RMSprop,
               "adagrad": optim.Adagrad, "radam": optim.RAdam}
    kwargs = {"lr": lr}
    if weight_decay is not None:
        kwargs["weight_decay"] = weight_decay
    if name in ("sgd", "rmsprop"):
        kwargs["momentum"] = momentum
    return classes[name](params, **kwargs)


def _build_scheduler(name, optimizer, epochs, steps_per_epoch, lr):
    """Epoch-wise schedules span the run; OneCycle spans every batch and peaks at `lr`."""
    from . import optim
    if name == "none":
        return None
    if name == "cosine":
        return optim.CosineAnnealingLR(optimizer, T_max=epochs)
    if name == "step":
        return optim.StepLR(optimizer, step_size=max(1, epochs // 3), gamma=0.1)
    return optim.OneCycleLR(optimizer, max_lr=lr, total_steps=epochs * steps_per_epoch)


def _load(dataset, split, root):
    from .data import load_dataset
    return load_dataset(dataset, split, root=root)


def _prepare(images, dataset):
    """float NCHW input standardised with the data set's training mean and std (the same in train and eval)."""
    from .data import prepare_images
    return prepare_images(images, dataset=dataset)


def _read_config(run_dir):
    path = os.path.join(run_dir, "config.json")
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc


def _predictions(trainer, x):
    """Predicted class indices on the host (from logits or from labels, whichever predict returns)."""
    out = backend.to_numpy(trainer.predict(x))
    return out.argmax(axis=1) if out.ndim == 2 else out.astype(host.int64)


def _example_indices(labels, preds, count=PICTURE_COUNT):
    """Up to `count` test images: half of them mistakes (the interesting ones), the rest the first correct ones."""
    wrong = host.flatnonzero(labels != preds)[: count // 2]
    right = host.flatnonzero(labels == preds)[: count - len(wrong)]
    return host.sort(host.concatenate([wrong, right]))


def _draw_pictures(run_dir, history, raw_images, labels, preds, dataset):
    """curves.png, predictions.png and confusion.png; returns their paths, or None without matplotlib."""
    from . import plots
    from .data.datasets import get
    names = get(dataset).classes
    pick = _example_indices(labels, preds)
    try:
        return [plots.plot_history(history, os.path.join(run_dir, "curves.png")),
                plots.plot_predictions(raw_images[pick], labels[pick], preds[pick],
                                       os.path.join(run_dir, "predictions.png"), class_names=names),
                plots.plot_confusion(labels, preds, os.path.join(run_dir, "confusion.png"), class_names=names)]
    except ImportError as exc:
        print(f"xpnet: no pictures: {exc}")
        return None


def _apply_recipe(args):
    """Fill in the options of the model's recipe that the command line left out (None)."""
    for key, value in {**DEFAULT_RECIPE, **RECIPES.get(args.model, {})}.items():
        if getattr(args, key) is None:
            setattr(args, key, value)


# -- subcommands ----------------------------------------------------------------------
def cmd_train(args):
    from .data import DataLoader
    from .losses import SoftmaxCrossEntropy
    from .models import get_model
    from .train import Trainer, describe

    _apply_recipe(args)
    backend.seed(args.seed)
    run_dir = args.out or os.path.join("runs", f"{args.model}-{args.dataset}")
    raw_train, y_train = _load(args.dataset, "train", args.data)
    raw_test, y_test = _load(args.dataset, "test", args.data)
    config = _read_config(run_dir) if args.resume else None
    if config is None:
        config = {"model": args.model, "model_kwargs": {}, "dataset": args.dataset}
    elif (config["model"], config["dataset"]) != (args.model, args.dataset):
        raise ValueError(f"{run_dir} holds a {config['model']} run on {config['dataset']}: "
                         f"cannot resume it as {args.model} on {args.dataset}")
    x_test = _prepare(raw_test, args.dataset)
    train_loader = DataLoader(_prepare(raw_train, args.dataset), y_train, batch_size=args.batch_size, shuffle=True,
                              seed=args.seed, shift=args.shift)
    test_loader = DataLoader(x_test, y_test, batch_size=max(args.batch_size, 1000), shuffle=False)

    model = get_model(config["model"], **config["model_kwargs"])
    optimizer = _build_optimizer(args.optimizer, model.parameters(), args.lr, args.weight_decay, args.momentum)
    scheduler = _build_scheduler(args.scheduler, optimizer, args.epochs, len(train_loader), args.lr)
    trainer = Trainer(model, SoftmaxCrossEntropy(), optimizer, scheduler=scheduler)
    write_json(os.path.join(run_dir, "config.json"), {**config, "train_args": vars(args)})

    with warnings.catch_warnings():
        # NumPy's overflow and invalid-value warnings are how divergence shows on the CPU; the trainer
        # reports it in one clear line (TrainingDiverged) instead
        warnings.filterwarnings("ignore", r"(overflow|invalid value|divide by zero) encountered", RuntimeWarning)
        history = trainer.fit(train_loader, val_loader=test_loader, epochs=args.epochs, out_dir=run_dir,
                              resume=args.resume, verbose=not args.quiet,
                              metadata=describe(config["model"], config["model_kwargs"], args.dataset))
    result = trainer.evaluate(test_loader)
    preds = _predictions(trainer, x_test)
    metrics = {"model": config["model"], "dataset": args.dataset, "test_loss": float(result["loss"]),
               "test_accuracy": float(result["accuracy"]), "epochs": len(history["val_acc"]),
               "seconds": round(sum(history["seconds"]), 3), "backend": backend.current()}
    write_json(os.path.join(run_dir, "metrics.json"), metrics)
    pictures = _draw_pictures(run_dir, history, raw_test, host.asarray(y_test), preds, args.dataset)

    print(f"test accuracy {metrics['test_accuracy']:.2%} (loss {metrics['test_loss']:.4f}) after "
          f"{metrics['epochs']} epoch(s) on {metrics['backend']}")
    print(f"run folder {run_dir}: checkpoint/, history.json, metrics.json, config.json"
          + (", " + ", ".join(os.path.basename(p) for p in pictures) if pictures else ""))
    return 0


def _model_file(given):
    """The model file that --checkpoint names: a .safetensors file, a checkpoint folder, or a run folder."""
    from .train.checkpoint import MODEL_FILE, model_path
    path = Path(given)
    if path.is_file():
        return path
    for file in (model_path(path / "checkpoint"), model_path(path)):
        if file.is_file():
            return file
    expected = f"expected a .safetensors model file, a run folder or its checkpoint/ folder holding {MODEL_FILE}"
    if not path.exists():
        raise FileNotFoundError(f"{given} does not exist ({expected})")
    raise FileNotFoundError(f"{given}: no {MODEL_FILE} in this folder or in checkpoint/ inside it ({expected})")


def _open_model(args):
    """(model with its weights, metadata, data set name or None) for eval and predict.

    The model file's metadata names the model unless --model does; a file written before xpnet
    kept metadata falls back on its run folder's config.json.
    """
    from .models import get_model
    from .train import load_model, read_metadata
    file = _model_file(args.checkpoint)
    meta = read_metadata(file)
    config = {}
    if "model" not in meta:
        run_dir = file.parent.parent if file.parent.name.startswith("checkpoint") else file.parent
        config = _read_config(run_dir) or {}
    if args.model is None and "model" not in meta and "model" not in config:
        raise ValueError(f"{file} does not say which model it holds (it was saved without xpnet's metadata, "
                         "or from a model not made by a builder in xpnet.models): pass --model")
    if args.model is None and "model" not in meta:
        model = load_model(file, get_model(config["model"], **config.get("model_kwargs", {})))
    else:
        model = load_model(file, args.model)
    return model, meta, args.dataset or meta.get("dataset") or config.get("dataset")


def cmd_eval(args):
    from .data import DataLoader, prepare_images
    from .losses import SoftmaxCrossEntropy
    from .train import Trainer

    model, meta, dataset = _open_model(args)
    dataset = dataset or "mnist"
    pre = meta.get("preprocessing", {})
    images, y = _load(dataset, args.split, args.data)
    x = prepare_images(images, mean=_first(pre.get("mean")), std=_first(pre.get("std")), dataset=dataset)
    trainer = Trainer(model, SoftmaxCrossEntropy(), optimizer=None)
    result = trainer.evaluate(DataLoader(x, y, batch_size=args.batch_size, shuffle=False))
    name = args.model or meta.get("model") or type(model).__name__
    print(f"{name} on {dataset} {args.split}: loss {float(result['loss']):.4f}, "
          f"accuracy {float(result['accuracy']):.2%} ({len(y)} images)")
    return 0


def _first(values):
    """The one value of a one-channel list of preprocessing constants, or None."""
    return None if values is None else float(values[0])


def cmd_predict(args):
    from .data import get
    from .train import classify

    model, meta, dataset = _open_model(args)
    ds = get(dataset or "mnist")
    try:
        results = classify(model, args.images, meta.get("preprocessing") or ds.preprocessing(),
                           meta.get("classes") or list(ds.classes), top=args.top)
    except ImportError as exc:  # no Pillow: no picture can be read
        raise RuntimeError(str(exc)) from exc
    except ValueError as exc:  # the model's input is not made from grayscale pictures
        raise ValueError(f"{args.checkpoint}: {exc}") from exc
    for result in results:
        if "error" in result:
            print(f"xpnet: error: {result['error']}", file=sys.stderr)
        elif not args.json:
            print(f"{result['file']}: " + ", ".join(f"{c['class']} ({c['probability']:.1%})" for c in result["top"]))
    if args.json:
        print(json.dumps(results, indent=1))
    return 1 if any("error" in r for r in results) else 0


def cmd_info(args):
    from tabulate import tabulate

    from .data import where
    rows = [("xpnet", __version__), *((k, v) for k, v in backend.info().items())]
    print(tabulate(rows, headers=["setup", ""]))
    print()
    data = [(name, where(name, root=args.data) or "not found (downloaded on first use)") for name in DATASETS]
    print(tabulate(data, headers=["data set", "location"]))
    return 0


def _delegate(name, argv):
    """Hand the rest of the command line to `xpnet.<name>.main`."""
    return int(importlib.import_module(f"xpnet.{name}").main(list(argv)) or 0)


# -- command line ---------------------------------------------------------------------
def build_parser():
    parser = argparse.ArgumentParser(prog="xpnet", description="A readable CNN framework on NumPy or CuPy.")
    parser.add_argument("--version", action="version", version=f"xpnet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    train = sub.add_parser("train", help="train a built-in model on a data set",
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    train.add_argument("--model", default="lenet5", choices=_model_names())
    train.add_argument("--dataset", default="mnist", choices=DATASETS)
    train.add_argument("--epochs", type=positive_int, default=None, help=_recipe_help("epochs"))
    train.add_argument("--batch-size", type=positive_int, default=64)
    train.add_argument("--optimizer", default="adam", choices=OPTIMIZERS)
    train.add_argument("--lr", type=float, default=3e-3, help="learning rate (the peak one for onecycle)")
    train.add_argument("--weight-decay", type=float, default=None,
                       help="L2 penalty (decoupled for adamw); the optimizer's default when not given")
    train.add_argument("--momentum", type=float, default=0.9, help="momentum for sgd and rmsprop")
    train.add_argument("--scheduler", default="onecycle", choices=SCHEDULERS,
                       help="learning-rate schedule over the run (onecycle: up to --lr, then down)")
    train.add_argument("--shift", type=natural_int, default=None,
                       help="augment: move each training image by a random 0 to N pixels each way (0: off); "
                            + _recipe_help("shift"))
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out", default=None, help="run folder (else runs/<model>-<dataset>)")
    train.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    train.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    _common(train)

    ev = sub.add_parser("eval", help="test loss and accuracy of a trained model",
                        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    _model_args(ev, "the data set to evaluate on; default: the one the file names")
    ev.add_argument("--split", default="test", choices=("train", "test"))
    ev.add_argument("--batch-size", type=positive_int, default=1000)
    _common(ev)

    pr = sub.add_parser("predict", help="classify your own pictures (PNG, JPEG) with a trained model",
                        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                        description="Each picture is made grayscale, inverted if its background is light, its ink "
                                    "fitted and centred as the data set's images were, then classified. One line "
                                    "per picture: the file, then the most likely classes with their probabilities.")
    pr.add_argument("images", nargs="+", metavar="IMAGE", help="picture files")
    _model_args(pr, "for a file that does not say: whose class names and preprocessing to use")
    pr.add_argument("--top", type=positive_int, default=3, help="how many classes to list per picture")
    pr.add_argument("--json", action="store_true", help="print a JSON list (file, top classes or error) instead")
    _common(pr, data=False)

    info = sub.add_parser("info", help="backend, versions, device, BLAS and where the data sets are")
    _common(info)

    for name, text in DELEGATED.items():
        sub.add_parser(name, help=text, add_help=False)
    return parser


def _recipe_help(key):
    recipes = ", ".join(f"{model} {recipe[key]}" for model, recipe in RECIPES.items())
    return f"default: the model's recipe, {recipes}, else {DEFAULT_RECIPE[key]}"


def _model_args(parser, dataset_help):
    parser.add_argument("--checkpoint", required=True, metavar="PATH",
                        help="a model file (.safetensors), a run folder or its checkpoint/ folder")
    parser.add_argument("--model", default=None, choices=_model_names(),
                        help="default: the model the file names (or its run's config.json)")
    parser.add_argument("--dataset", default=None, choices=DATASETS, help=dataset_help)


def _common(parser, data=True):
    parser.add_argument("--backend", default=None, choices=backend.NAMES,
                        help="array backend (overrides XPNET_BACKEND, else cpu)")
    if data:
        parser.add_argument("--data", default=None, metavar="DIR",
                            help="folder holding mnist/ and fashion-mnist/ (else XPNET_DATA or the cache)")


def positive_int(text):
    """An argparse type: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def natural_int(text):
    """An argparse type: an integer of at least 0."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text}")
    return value


def guarded(prog, command, *args):
    """`command(*args)`'s exit status, as every xpnet command line reports it: argparse's own for --help and
    usage errors (2), 130 for an interrupt, and 1 with one line on stderr for a failure while running (missing
    data, no GPU, a bad file), which OSError, RuntimeError and ValueError carry."""
    try:
        return command(*args)
    except SystemExit as exc:
        return exc.code or 0
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except (OSError, RuntimeError, ValueError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1


COMMANDS = {"train": cmd_train, "eval": cmd_eval, "predict": cmd_predict, "info": cmd_info}


def main(argv=None):
    """Run the command line `argv` (default sys.argv[1:]); returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in DELEGATED:
        return _delegate(argv[0], argv[1:])
    return guarded("xpnet", _run, argv)


def _run(argv):
    args = build_parser().parse_args(argv)
    if args.backend is not None:
        backend.use(args.backend)
    return COMMANDS[args.command](args)
