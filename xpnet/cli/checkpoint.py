"""`--checkpoint`: the model file that eval, predict and export are given, and the model it holds."""
import json
import os
from pathlib import Path

from ..errors import ConfigError, ModelFileError, shown

MAX_CONFIG_BYTES = 1 << 20


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
    """A run folder's config.json as a dict, or None when it has none; ConfigError when it is not a JSON
    object naming a model and a data set."""
    path = os.path.join(run_dir, "config.json")
    try:
        with open(path, "rb") as f:
            config = json.loads(f.read(MAX_CONFIG_BYTES + 1))
    except FileNotFoundError:
        return None
    except (ValueError, RecursionError) as exc:
        raise ConfigError(f"{path}: not valid JSON ({shown(str(exc))})") from None
    if not isinstance(config, dict) or not isinstance(config.get("model"), str):
        raise ConfigError(f"{path}: expected a JSON object naming the run's model, got {shown(config)}")
    return config


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
    from ..train import load_model
    from ..train.metadata import check, model_arguments
    from ..train.model_file import read_header
    file = model_file(args.checkpoint)
    header = read_header(file)
    meta = check(header.metadata, file, header.numbers)
    if args.model is not None and meta.get("model") not in (None, args.model):
        raise ConfigError(f"{file} holds {meta['model']}; --model {args.model} asks for another model: drop "
                          f"--model, or give a file that holds {args.model}")
    config = {}
    if "model" not in meta:
        run_dir = file.parent.parent if file.parent.name.startswith("checkpoint") else file.parent
        config = read_config(run_dir) or {}
    if args.model is None and "model" not in meta and "model" not in config:
        raise ModelFileError(f"{file} does not say which model it holds (it was saved without xpnet's metadata, "
                         "or from a model not made by a builder in xpnet.models): pass --model")
    if args.model is None and "model" not in meta:
        kwargs = model_arguments(config["model"], config.get("model_kwargs", {}), os.path.join(run_dir, "config.json"),
                                 header.numbers)
        model = load_model(file, get_model(config["model"], **{k: v for k, v in kwargs.items()
                                                                if k in config.get("model_kwargs", {})}), header)
    else:
        model = load_model(file, args.model, header)
    return model, meta, args.dataset or meta.get("dataset") or config.get("dataset")
