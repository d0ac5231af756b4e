"""Checkpoints: weights that PyTorch can read, plus the state needed to resume training.

A checkpoint is a folder:

    <path>/model.safetensors     exactly `model.state_dict()` (keys, shapes, dtypes), so a
                                 `torch.nn` model of the same architecture loads it with
                                 `safetensors.torch.load_file` + `load_state_dict`; its metadata
                                 says what model, data set and preprocessing (model_file.py)
    <path>/training.safetensors  the arrays inside the optimizer/scheduler/loader/extra state
    <path>/state.json            everything else: epoch, optimizer and scheduler state (arrays
                                 replaced by {"__array__": name} references into
                                 training.safetensors), host RNG state, data-loader shuffle
                                 state, history records, `extra`, and the SHA-256 of both files

No pickle anywhere. A save builds the whole folder under a temporary name beside
`<path>` and then commits it with two renames (`<path>` -> `<path>.old`, new ->
`<path>`), so an interrupted save leaves either the previous checkpoint or the new
one, never a mix: if it stopped between the renames, the previous one is at
`<path>.old`, which loading and the next save both recognise.
"""
import hashlib
import json
import math
import os
import shutil
from pathlib import Path

import numpy as host  # host-side checkpoint arrays only

from ..backend import backend_of, get_rng_state, set_rng_state, to_numpy
from ..errors import ModelFileError, shown
from ..io import stale_temps, temp_path, write_bytes, write_json
from . import model_file

MODEL_FILE = "model.safetensors"
TRAINING_FILE = "training.safetensors"
STATE_FILE = "state.json"
FORMAT = "xpnet-checkpoint"
VERSION = 1


# -- committing a checkpoint folder ------------------------------------------
def _previous(path):
    return path.with_name(path.name + ".old")


def _live(path):
    """The folder holding the committed checkpoint: `path`, or `path.old` if a save stopped between renames."""
    if not path.exists() and _previous(path).is_dir():
        return _previous(path)
    return path


def _commit(tmp, path):
    """Replace folder `path` by folder `tmp` (see the module docstring for why two renames)."""
    old = _previous(path)
    if path.exists():
        shutil.rmtree(old, ignore_errors=True)  # a leftover from a save that finished its commit
        os.replace(path, old)
    os.replace(tmp, path)
    shutil.rmtree(old, ignore_errors=True)


def _remove_stale(path):
    """Delete the temporary folders that saves of `path` killed before they could clean up left behind
    (named by io.temp_path)."""
    for entry in stale_temps(path):
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)


# -- nested state <-> JSON + named arrays ----------------------------------------
def _is_array(value):
    return isinstance(value, (host.ndarray, host.generic)) or backend_of(value) == "gpu"


def _encode(value, name, arrays):
    """`value` as JSON data; arrays go into `arrays` under `name` and leave a reference behind."""
    if _is_array(value):
        arrays[name] = host.ascontiguousarray(to_numpy(value))
        return {"__array__": name, "scalar": isinstance(value, host.generic)}
    if isinstance(value, dict):
        items = [[k, _encode(v, f"{name}/{k}", arrays)] for k, v in value.items()]
        if all(isinstance(k, str) and not k.startswith("__") for k in value):
            return dict(items)
        return {"__items__": items}  # non-string keys (e.g. optimizer state keyed by int)
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, f"{name}/{i}", arrays) for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(v, f"{name}/{i}", arrays) for i, v in enumerate(value)]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"save_checkpoint: cannot store {type(value).__name__} at {name!r} "
                    "(state must hold arrays, numbers, strings, lists, tuples and dicts)")


def _decode(value, arrays):
    """Invert `_encode`: rebuild the nested state from its JSON data and the named arrays."""
    if isinstance(value, list):
        return [_decode(v, arrays) for v in value]
    if not isinstance(value, dict):
        return value
    if "__array__" in value:
        a = arrays[value["__array__"]]
        return a[()] if value["scalar"] else a
    if "__items__" in value:
        return {k: _decode(v, arrays) for k, v in value["__items__"]}
    if "__tuple__" in value:
        return tuple(_decode(v, arrays) for v in value["__tuple__"])
    return {k: _decode(v, arrays) for k, v in value.items()}


def _restore(file, what, obj, state):
    """Call `obj.load_state_dict(state)`, naming the file when the state does not fit."""
    if state is None:
        raise ValueError(f"{file}: checkpoint holds no {what} state to load")
    try:
        obj.load_state_dict(state)
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise ValueError(f"{file}: {what} state does not fit: {exc}") from exc


# -- public API -------------------------------------------------------------------
def save_weights(path, model, metadata=None):
    """Write `model.state_dict()` and the `metadata` strings (see model_file.py) to the safetensors file
    `path`, atomically."""
    write_bytes(path, model_file.to_bytes(model.state_dict(), metadata))


def model_path(path):
    """The model file of a checkpoint folder (the committed one), or `path` itself when it is not a folder."""
    path = Path(path)
    return _live(path) / MODEL_FILE if path.is_dir() or _previous(path).is_dir() else path


def load_weights(path, model):
    """Load weights from a checkpoint folder or a .safetensors file into `model` (any backend); returns `model`."""
    return model_file.load_state(model_path(path), model)


def save_checkpoint(path, model, optimizer=None, scheduler=None, epoch=0, extra=None, loader=None, history=None,
                    metadata=None):
    """Write checkpoint folder `path` (layout in the module docstring), replacing any previous one atomically.

    `loader`: a data loader whose shuffle state (`state_dict()`) is saved; `history`: a list of
    per-epoch record dicts; `extra`: any nested dict/list of numbers, strings and arrays;
    `metadata`: strings for the model file (`model_file.describe` makes them).
    """
    path = Path(path)
    arrays = {}
    state = {
        "format": FORMAT, "version": VERSION, "epoch": int(epoch),
        "optimizer": _encode(optimizer.state_dict(), "optimizer", arrays) if optimizer is not None else None,
        "scheduler": _encode(scheduler.state_dict(), "scheduler", arrays) if scheduler is not None else None,
        "loader": _encode(loader.state_dict(), "loader", arrays) if loader is not None else None,
        "rng": _encode(get_rng_state(), "rng", arrays),
        "history": list(history or []),
        "extra": _encode(extra, "extra", arrays),
    }
    blobs = {MODEL_FILE: model_file.to_bytes(model.state_dict(), metadata),
             TRAINING_FILE: model_file.to_bytes(arrays)}
    state["files"] = {name: hashlib.sha256(blob).hexdigest() for name, blob in blobs.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(path)
    tmp = temp_path(path)
    tmp.mkdir()  # permissions 0o777 & ~umask, like any folder the user makes
    try:
        for name, blob in blobs.items():
            write_bytes(tmp / name, blob)
        write_json(tmp / STATE_FILE, state, indent=1)
        _commit(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def load_checkpoint(path, model, optimizer=None, scheduler=None, loader=None, restore_rng=True):
    """Load checkpoint folder `path` into `model` (and the optimizer, scheduler, loader given).

    Restores xpnet's host RNG unless `restore_rng=False`. Returns a dict with "epoch",
    "extra" and "history" (list of per-epoch records). Bad or mismatched files raise a
    ValueError naming the file and what does not fit; a missing checkpoint, FileNotFoundError.
    """
    folder = _live(Path(path))
    state_file = folder / STATE_FILE
    if not state_file.is_file():
        raise FileNotFoundError(f"no checkpoint at {path} (expected {state_file})")
    state = _read_state(state_file)
    hashes = [state["files"][MODEL_FILE], state["files"][TRAINING_FILE]]
    arrays, _ = model_file.read(folder / TRAINING_FILE, hashes[1])
    model_file.load_state(folder / MODEL_FILE, model, sha256=hashes[0])
    try:
        decoded = {what: _decode(state[what], arrays) for what in ("optimizer", "scheduler", "loader", "rng", "extra")}
    except RecursionError:
        raise ModelFileError(f"{state_file}: its state is nested too deeply to be one xpnet wrote") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{state_file}: its state refers to arrays {TRAINING_FILE} does not hold "
                             f"({shown(str(exc))})") from None
    for what, obj in (("optimizer", optimizer), ("scheduler", scheduler), ("loader", loader)):
        if obj is not None:
            _restore(state_file, what, obj, decoded[what])
    if restore_rng:
        try:
            set_rng_state(decoded["rng"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{state_file}: random generator state does not fit ({shown(str(exc))})") from None
    return {"epoch": state["epoch"], "extra": decoded["extra"], "history": state["history"]}


def _is_number(value):
    """A value of a per-epoch record: a finite number, or None where there was nothing to measure."""
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value))


MAX_STATE_BYTES = 64 << 20  # state.json holds numbers and references, the arrays are in training.safetensors


def _read_state(state_file):
    """state.json parsed and its fields type-checked (ModelFileError naming the field otherwise)."""
    def bad(what):
        return ModelFileError(f"{state_file}: not a valid xpnet checkpoint state file ({what})")
    if state_file.stat().st_size > MAX_STATE_BYTES:
        raise bad(f"{state_file.stat().st_size:,} bytes, expected at most {MAX_STATE_BYTES:,}")
    try:
        state = json.loads(state_file.read_text())
    except (ValueError, RecursionError) as exc:
        raise bad(f"not JSON: {shown(str(exc))}") from None
    if not isinstance(state, dict):
        raise bad(f"expected a JSON object, got {shown(state)}")
    if state.get("format") != FORMAT or state.get("version") != VERSION:
        raise bad(f"format {shown(state.get('format'))} version {shown(state.get('version'))}, expected "
                  f"{FORMAT!r} version {VERSION}")
    files = state.get("files")
    if not isinstance(files, dict) or not all(isinstance(files.get(n), str) and len(files[n]) == 64
                                              for n in (MODEL_FILE, TRAINING_FILE)):
        raise bad(f"files {shown(files)}, expected the SHA-256 of {MODEL_FILE} and {TRAINING_FILE}")
    epoch = state.get("epoch")
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
        raise bad(f"epoch {shown(epoch)}, expected an integer >= 0")
    history = state.get("history")
    if (not isinstance(history, list) or len(history) > epoch
            or not all(isinstance(r, dict) and all(_is_number(v) for v in r.values()) for r in history)):
        raise bad(f"history {shown(history)}, expected a list of at most {epoch} per-epoch records of numbers")
    for what in ("optimizer", "scheduler", "loader", "rng", "extra"):
        if what not in state:
            raise bad(f"no {what!r} entry")
    return state
