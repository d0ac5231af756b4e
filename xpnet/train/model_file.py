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
import math
import os
import struct
from pathlib import Path

import numpy as host  # the file's arrays, checked on the host
from safetensors import numpy as st_numpy

from ..data.datasets import get
from ..errors import ModelFileError, is_int, shown
from ..models import get_model
from . import metadata as schema

JSON_KEYS = schema.JSON_KEYS
_LENGTH = struct.Struct("<Q")  # a safetensors file starts with its header's length, a little-endian uint64
MAX_HEADER_BYTES = 16 << 20    # a header lists names, shapes and offsets: a model with 10^5 tensors fits
# Files a user may pass for a model file by mistake, known by their first bytes.
_OTHER_FORMATS = ((b"\x89PNG", "a PNG picture"), (b"\xff\xd8\xff", "a JPEG picture"), (b"{", "JSON text"),
                  (b"PK\x03\x04", "a ZIP archive (a PyTorch .pt file is one)"), (b"\x80", "a Python pickle"))
_EXPECTED = "expected a safetensors file: an 8-byte header length, a JSON header, then the tensor data"
DTYPES = {"BOOL": 1, "U8": 1, "I8": 1, "I16": 2, "U16": 2, "F16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8,
          "U64": 8, "F64": 8}  # the safetensors dtypes NumPy holds, and their bytes per element


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


class Header(dict):
    """A safetensors file's checked header: tensor name -> {"dtype", "shape", "data_offsets"}, with
    `.metadata` (the raw `__metadata__` strings), `.numbers` (elements over all tensors) and `.size`."""


def _open(file):
    if os.path.exists(file) and not os.path.isfile(file) and not os.path.isdir(file):  # a FIFO would block for ever
        raise ModelFileError(f"{file} is not a regular file (a pipe or device?), expected a .safetensors file")
    try:
        return open(file, "rb")
    except FileNotFoundError:
        raise FileNotFoundError(f"{file} does not exist (expected a .safetensors file)") from None
    except IsADirectoryError:
        raise IsADirectoryError(f"{file} is a folder, expected a .safetensors file") from None


def read_header(file):
    """The checked header of safetensors file `file`, read without its tensor data.

    The header is read only when its announced length is plausible, and checked whole before any
    tensor is read: a JSON object whose tensors have a known dtype, a shape, and byte ranges that
    match the shape and tile the data exactly, the data being as long as the file says.
    """
    with _open(file) as f:
        size = os.fstat(f.fileno()).st_size
        if size < _LENGTH.size:
            raise ModelFileError(f"{file}: {size} bytes, too short for a safetensors file ({_EXPECTED})")
        head = f.read(_LENGTH.size)
        (length,) = _LENGTH.unpack(head)
        if length > size - _LENGTH.size:
            other = next((what for magic, what in _OTHER_FORMATS if head.startswith(magic)), None)
            if other is None and str(file).endswith(".onnx"):
                other = "an ONNX model (what `xpnet export` writes; xpnet reads its own model files)"
            if other:
                raise ModelFileError(f"{file}: not a safetensors file: it starts as {other} does ({_EXPECTED})")
            raise ModelFileError(f"{file}: truncated or not a safetensors file: it announces a {length:,}-byte header "
                                 f"but {size - _LENGTH.size:,} bytes follow ({_EXPECTED})")
        if length > MAX_HEADER_BYTES:
            raise ModelFileError(f"{file}: its header announces {length:,} bytes, more than the {MAX_HEADER_BYTES:,} "
                                 f"xpnet reads ({_EXPECTED})")
        text = f.read(length)
    try:
        text = text.decode("utf-8")
        if schema._json_depth(text) > schema.MAX_JSON_DEPTH:
            raise ValueError("nested too deep")
        raw = json.loads(text)
    except (ValueError, RecursionError):
        raw = None
    if not isinstance(raw, dict):
        raise ModelFileError(f"{file}: not a safetensors file: its header is not a JSON object ({_EXPECTED})")
    header = Header()
    header.metadata = schema.strings_of(raw.pop("__metadata__", None) or {}, file)
    ranges = []
    for name, entry in raw.items():
        header[name] = _tensor_entry(file, name, entry)
        ranges.append((*header[name]["data_offsets"], name))
    header.size, header.numbers = size - _LENGTH.size - length, sum(math.prod(t["shape"]) for t in header.values())
    end = 0
    for begin, stop, name in sorted(ranges):
        if begin != end:
            raise ModelFileError(f"{file}: tensor {shown(name)}'s data starts at byte {begin}, expected {end} "
                                 "(tensor data must follow each other without gaps or overlaps)")
        end = stop
    if end > header.size:
        raise ModelFileError(f"{file}: truncated: its header lists {end} bytes of tensor data, {header.size} are there")
    if end < header.size:
        raise ModelFileError(f"{file}: {header.size - end} bytes after the tensor data its header lists ({_EXPECTED})")
    return header


def _tensor_entry(file, name, entry):
    """One tensor's header entry, checked: known dtype, shape of sizes >= 0, offsets that fit the shape."""
    what = f"{file}: tensor {shown(name)}"
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        raise ModelFileError(f"{what}: expected an entry with dtype, shape and data_offsets, got {shown(entry)}")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype not in DTYPES:
        raise ModelFileError(f"{what}: dtype {shown(dtype)}, expected one of {', '.join(DTYPES)}")
    if (not isinstance(shape, list) or len(shape) > 8
            or not all(is_int(d) and d >= 0 for d in shape)):
        raise ModelFileError(f"{what}: shape {shown(shape)}, expected a list of at most 8 sizes >= 0")
    if (not isinstance(offsets, list) or len(offsets) != 2
            or not all(is_int(o) and o >= 0 for o in offsets)):
        raise ModelFileError(f"{what}: data_offsets {shown(offsets)}, expected [begin, end] byte offsets")
    if offsets[1] - offsets[0] != math.prod(shape) * DTYPES[dtype]:
        raise ModelFileError(f"{what}: data_offsets {offsets} span {offsets[1] - offsets[0]} bytes, but "
                             f"{dtype} {shape} needs {math.prod(shape) * DTYPES[dtype]}")
    return entry


def _sha256(file):
    digest = hashlib.sha256()
    with _open(file) as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def read(file, sha256=None, fits=None, header=None):
    """(arrays, metadata strings) of safetensors file `file`; checks its SHA-256 when given.

    The checksum is compared first, then the header is read and checked (`read_header`), then
    `fits(header)` when given (a check that may refuse the file before its data is read), then the data. Every failure names the file:
    FileNotFoundError when missing, ModelFileError (a ValueError) when it is not a whole safetensors
    file, does not fit, or the checksum differs. `header` is the file's `read_header` when the caller
    has already read it (its header is then not read and checked again); not with `sha256`, whose check
    must come before the header is read.
    """
    if sha256 is not None and header is not None:
        raise ValueError("read: a header read before the checksum was compared cannot be trusted; pass one of "
                         "sha256 and header")
    if sha256 is not None and _sha256(file) != sha256:  # read in chunks: memory stays bounded
        raise ModelFileError(f"{file}: checksum mismatch with the checkpoint's state file (corrupt, truncated or "
                             "replaced)")
    header = read_header(file) if header is None else header
    if fits is not None:
        fits(header)
    try:
        arrays = st_numpy.load_file(str(file))
    except Exception as exc:  # safetensors raises its own SafetensorError for what the checks above let through
        raise ModelFileError(f"{file}: not a valid safetensors file ({shown(str(exc))})") from exc
    return arrays, dict(header.metadata)


def read_metadata(file):
    """The metadata of model file `file`, JSON values decoded and every key checked
    (xpnet.train.metadata; {} for a file saved without any)."""
    header = read_header(file)
    return schema.check(header.metadata, file, header.numbers)


def fits_model(model, file):
    """A check for `read(fits=...)`: the file's tensors are exactly `model.state_dict()`'s names and shapes,
    floating point where the model's are."""
    def check(header):
        if header and all("/" in key for key in header):  # a state_dict's keys are dotted; a checkpoint's others not
            raise ModelFileError(f"{file}: holds a checkpoint's training state (optimizer, scheduler), not a model's "
                                 f"weights: pass the run folder or its checkpoint's model.safetensors")
        problems = model.state_mismatches({key: entry["shape"] for key, entry in header.items()})
        dtypes = model.state_dtypes()
        problems += [f"{key}: expected {dtypes[key]} values, got {entry['dtype']}" for key, entry in header.items()
                     if key in dtypes and entry["dtype"].startswith("F") != (dtypes[key].kind == "f")]
        if problems:
            raise ModelFileError(f"{file}: weights do not fit the model: {type(model).__name__}.load_state_dict: "
                                 + "; ".join(problems))
    return check


def load_state(file, model, header=None, sha256=None):
    """Load the weights in model file `file` into `model`; returns `model`. The file's tensor names and
    shapes are compared with the model's before its data is read (`header`, `sha256`: as for `read`)."""
    arrays, _ = read(file, sha256, fits=fits_model(model, file), header=header)
    broken = next((key for key, a in arrays.items() if a.dtype.kind == "f" and not host.isfinite(a).all()), None)
    if broken is not None:  # a model with them computes NaN for every picture
        raise ModelFileError(f"{file}: tensor {shown(broken)} holds NaN or infinite values: expected finite weights")
    try:
        model.load_state_dict(arrays)
    except ValueError as exc:
        raise ModelFileError(f"{file}: weights do not fit the model: {exc}") from exc
    return model


def load_model(file, model=None, header=None):
    """The model in `file`, with its weights: built as its metadata names it, or `model`, a builder name
    (keyword arguments from the metadata when it names the same one) or a Layer to load into.

    The metadata is checked first (xpnet.train.metadata), so what is built is what the file justifies;
    the header is read once (or given, as for `read`)."""
    header = read_header(file) if header is None else header
    meta = schema.check(header.metadata, file, header.numbers)
    if model is None:
        if "model" not in meta:
            raise ModelFileError(f"{file} does not say which model it holds (it was saved without xpnet's "
                                 "metadata, or from a model not made by a builder in xpnet.models): name the model")
        model = meta["model"]
    if isinstance(model, str):
        same = model == meta.get("model")
        kwargs = meta.get("model_kwargs", {}) if same else {}
        schema.model_arguments(model, kwargs, file, min(schema.MAX_PARAMETERS, header.numbers))
        model = get_model(model, **kwargs)
    return load_state(file, model, header)
