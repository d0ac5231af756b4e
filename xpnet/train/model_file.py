"""Model files: safetensors files whose metadata says how the weights were made and what input they take.

The weights are exactly `model.state_dict()`, so `torch.nn` loads them. The file's metadata
(the `__metadata__` strings of the safetensors header) is written when given, normally as
`describe(...)` builds it; every value is a string, JSON-encoded where structured:

    xpnet_version   "0.1.0"                 the xpnet that wrote the file
    model           "lenet5"                the builder in `xpnet.models.MODELS` (absent for a model built by hand)
    model_kwargs    "{}"                    JSON object: the builder's keyword arguments
    dataset         "mnist"                 the data set the model was trained on
    classes         '["0", "1", ...]'       JSON list: the class name of each output, in order
    preprocessing   JSON object, e.g. {"image_size": [28, 28], "channels": 1, "mean": [0.1307],
                    "std": [0.3081], "fit_box": 20, "centre": "mass"}: the model takes
                    (N, channels, *image_size) float input made from 8-bit pixels as
                    (pixel / 255 - mean) / std per channel (torchvision's ToTensor + Normalize);
                    `fit_box` and `centre` say how the data set's images were framed, which
                    `xpnet predict` repeats for a user's own picture (`xpnet.data.images`)

`read_metadata(file)` returns them decoded; `load_model(file)` builds the named model and loads
the weights. Reading checks the file's structure first, so a missing, truncated or foreign file
is reported by name with what was expected, never as a parser's traceback.
"""
import hashlib
import json
import struct
from pathlib import Path

from safetensors import numpy as st_numpy

from ..data.datasets import get
from ..models import get_model

JSON_KEYS = ("model_kwargs", "classes", "preprocessing")
_LENGTH = struct.Struct("<Q")  # a safetensors file starts with its header's length, a little-endian uint64


def describe(model=None, model_kwargs=None, dataset=None):
    """The metadata strings for a model built as `xpnet.models.get_model(model, **model_kwargs)` and trained
    on data set `dataset` (its class names and input preprocessing come from `xpnet.data`). Any may be None."""
    from .. import __version__  # set by xpnet/__init__.py after it has imported this package

    meta = {"xpnet_version": __version__}
    if model is not None:
        meta["model"] = str(model)
        meta["model_kwargs"] = json.dumps(dict(model_kwargs or {}))
    if dataset is not None:
        ds = get(dataset)
        meta["dataset"] = ds.name
        meta["classes"] = json.dumps(list(ds.classes))
        meta["preprocessing"] = json.dumps(ds.preprocessing())
    return meta


def _check_metadata(metadata):
    """`metadata` as a dict of strings (None stays None); anything else is a TypeError saying what."""
    if metadata is None:
        return None
    bad = {k: type(v).__name__ for k, v in dict(metadata).items() if not (isinstance(k, str) and isinstance(v, str))}
    if bad:
        raise TypeError(f"model file metadata must map strings to strings; not so for {bad}")
    return dict(metadata)


def to_bytes(state, metadata=None):
    """A safetensors file's bytes holding the arrays of `state` (a dict) and the `metadata` strings."""
    return st_numpy.save(dict(state), metadata=_check_metadata(metadata))


def _contents(file):
    try:
        return Path(file).read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"{file} does not exist (expected a .safetensors file)") from None
    except IsADirectoryError:
        raise IsADirectoryError(f"{file} is a folder, expected a .safetensors file") from None


def _header(data, file):
    """The parsed JSON header of safetensors bytes `data`, after checking that the file is whole."""
    expected = "expected a safetensors file: an 8-byte header length, a JSON header, then the tensor data"
    if len(data) < _LENGTH.size:
        raise ValueError(f"{file}: {len(data)} bytes, too short for a safetensors file ({expected})")
    (size,) = _LENGTH.unpack_from(data)
    if size > len(data) - _LENGTH.size:
        raise ValueError(f"{file}: truncated or not a safetensors file: it announces a {size}-byte header but "
                         f"{len(data) - _LENGTH.size} bytes follow ({expected})")
    try:
        header = json.loads(data[_LENGTH.size:_LENGTH.size + size])
    except (ValueError, UnicodeDecodeError):
        header = None
    if not isinstance(header, dict):
        raise ValueError(f"{file}: not a safetensors file: its header is not a JSON object ({expected})")
    ends = [t["data_offsets"][1] for k, t in header.items() if k != "__metadata__" and isinstance(t, dict)
            and isinstance(t.get("data_offsets"), list) and len(t["data_offsets"]) == 2]
    present = len(data) - _LENGTH.size - size
    if ends and max(ends) > present:
        raise ValueError(f"{file}: truncated: its header lists {max(ends)} bytes of tensor data, {present} are there")
    return header


def read(file, sha256=None):
    """(arrays, metadata strings) of safetensors file `file`; checks its SHA-256 when given.

    Every failure names the file: FileNotFoundError when missing, ValueError when it is not
    a whole safetensors file or the checksum differs.
    """
    data = _contents(file)
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise ValueError(f"{file}: checksum mismatch with the checkpoint's state file (corrupt, truncated or replaced)")
    header = _header(data, file)
    try:
        arrays = st_numpy.load(data)
    except Exception as exc:  # safetensors raises its own SafetensorError for what the checks above let through
        raise ValueError(f"{file}: not a valid safetensors file ({exc})") from exc
    return arrays, dict(header.get("__metadata__") or {})


def read_metadata(file):
    """The metadata of model file `file`, JSON values decoded ({} for a file saved without any)."""
    meta = dict(_header(_contents(file), file).get("__metadata__") or {})
    for key in JSON_KEYS:
        if key in meta:
            try:
                meta[key] = json.loads(meta[key])
            except ValueError as exc:
                raise ValueError(f"{file}: metadata {key!r} is not valid JSON ({exc})") from exc
    return meta


def load_state(file, model):
    """Load the weights in model file `file` into `model`; returns `model`."""
    arrays, _ = read(file)
    try:
        model.load_state_dict(arrays)
    except ValueError as exc:
        raise ValueError(f"{file}: weights do not fit the model: {exc}") from exc
    return model


def load_model(file, model=None):
    """The model in `file`, with its weights: built as its metadata names it, or `model`, a builder name
    (keyword arguments from the metadata when it names the same one) or a Layer to load into."""
    meta = read_metadata(file)
    if model is None:
        if "model" not in meta:
            raise ValueError(f"{file} does not say which model it holds (it was saved without xpnet's "
                             "metadata, or from a model not made by a builder in xpnet.models): name the model")
        model = meta["model"]
    if isinstance(model, str):
        same = model == meta.get("model")
        model = get_model(model, **(meta.get("model_kwargs", {}) if same else {}))
    return load_state(file, model)
