"""`--checkpoint`: the model file that eval, predict and export are given, and the model it holds."""
import json
import os
from pathlib import Path


def add_model_args(parser, dataset_help):
    """--checkpoint, --model and --dataset, as eval, predict and export take them."""
    from ..data.datasets import DATASETS
    from ..models import MODELS
    parser.add_argument("--checkpoint", required=True, metavar="PATH",
                        help="a model file (.safetensors), a run folder or its checkpoint/ folder")
    parser.add_argument("--model", default=None, choices=tuple(MODELS),
                        help="default: the model the file names (or its run's config.json)")
    parser.add_argument("--dataset", default=None, choices=DATASETS, help=dataset_help)


def read_config(run_dir):
    """A run folder's config.json as a dict, or None when it has none."""
    path = os.path.join(run_dir, "config.json")
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc


def model_file(given):
    """The model file that --checkpoint names: a .safetensors file, a checkpoint folder, or a run folder."""
    from ..train.checkpoint import MODEL_FILE, model_path
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


def open_model(args):
    """(model with its weights, metadata, data set name or None) for the model file --checkpoint names.

    The model file's metadata names the model unless --model does; a file written before xpnet
    kept metadata falls back on its run folder's config.json.
    """
    from ..models import get_model
    from ..train import load_model, read_metadata
    file = model_file(args.checkpoint)
    meta = read_metadata(file)
    config = {}
    if "model" not in meta:
        run_dir = file.parent.parent if file.parent.name.startswith("checkpoint") else file.parent
        config = read_config(run_dir) or {}
    if args.model is None and "model" not in meta and "model" not in config:
        raise ValueError(f"{file} does not say which model it holds (it was saved without xpnet's metadata, "
                         "or from a model not made by a builder in xpnet.models): pass --model")
    if args.model is None and "model" not in meta:
        model = load_model(file, get_model(config["model"], **config.get("model_kwargs", {})))
    else:
        model = load_model(file, args.model)
    return model, meta, args.dataset or meta.get("dataset") or config.get("dataset")
