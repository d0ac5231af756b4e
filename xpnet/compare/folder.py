"""The run folder of a comparison, which is what makes it resumable.

    <out>/settings.json              what every result in the folder shares (data set, epochs, subsets, ...)
    <out>/results/<variant>-seed<k>.json   one finished (variant, seed): its variant, history and test numbers
    <out>/partial/<variant>-seed<k>/ the one in progress: its variant and the Trainer's checkpoint and history

Each result is written atomically as soon as it is finished, so an interrupted run keeps them all and
a rerun with the same folder trains only what is missing (continuing a partial one from its last epoch).
A folder refuses settings or variants other than those its results were made with.
"""
import dataclasses
import json
import shutil
from pathlib import Path

from ..errors import ConfigError, shown
from ..io import write_json
from ..train.trainer import HISTORY

SETTINGS = "settings.json"
VARIANT = "variant.json"  # in a partial folder: the variant it is training


@dataclasses.dataclass(frozen=True)
class Settings:
    """What all the results of one folder share; the variants and seeds may grow from run to run."""

    experiment: str
    dataset: str
    epochs: int
    batch_size: int
    subset: int | None = None       # train on the first `subset` training images (None: all)
    test_subset: int | None = None  # test on the first `test_subset` test images (None: all)
    backend: str = "cpu"

    def as_dict(self):
        return dataclasses.asdict(self)


def _read_json(path):
    """The JSON object in `path`; ConfigError when it is not valid JSON or not an object."""
    try:
        with open(path) as f:
            value = json.load(f)
    except (ValueError, RecursionError) as exc:
        raise ConfigError(f"{path}: not valid JSON ({shown(str(exc))}); delete it to start that part again") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: expected a JSON object, got {shown(value)}; delete it to start that part again")
    return value


# A stored result's entries and their types: what the summary and pictures read from it
RESULT_TYPES = {"seed": int, "train_images": int, "test_images": int, "test_accuracy": (int, float),
                "test_seconds": (int, float), "history": list}
RECORD_KEYS = ("val_acc", "images_per_s")


def _check_result(path, result):
    bad = [k for k, kind in RESULT_TYPES.items() if not isinstance(result.get(k), kind)]
    history = result.get("history")
    if not bad and not (history and all(isinstance(r, dict) and all(isinstance(r.get(k), (int, float))
                                                                    for k in RECORD_KEYS) for r in history)):
        bad = ["history"]
    if bad:
        raise ConfigError(f"{path}: not a finished result ({', '.join(bad)} missing or of the wrong type); "
                          "delete it to train that variant again")


def _check_variant(where, stored, variant):
    if stored != variant.as_dict():
        raise ValueError(f"{where} was trained with {stored}, not {variant.as_dict()}: rerun with the same "
                         f"settings, give another --out, or delete it")


def _differences(stored, wanted):
    """"key stored (asked for wanted)" for every key whose value differs."""
    return ", ".join(f"{k} {stored.get(k)!r} (asked for {wanted.get(k)!r})"
                     for k in sorted(set(stored) | set(wanted)) if stored.get(k) != wanted.get(k))


class RunFolder:
    """The results of one comparison on disk (see the module docstring)."""

    def __init__(self, path, settings):
        self.path, self.settings = Path(path), settings
        stored_path = self.path / SETTINGS
        if stored_path.is_file():
            stored = _read_json(stored_path)
            if stored != settings.as_dict():
                raise ValueError(f"{self.path} holds results made with other settings: "
                                 f"{_differences(stored, settings.as_dict())}; rerun with the same settings, "
                                 f"or give another --out")
        else:
            write_json(stored_path, settings.as_dict())

    def result_path(self, variant, seed):
        return self.path / "results" / f"{variant.slug}-seed{seed}.json"

    def partial_dir(self, variant, seed):
        """Where the Trainer checkpoints a (variant, seed) while it trains."""
        return self.path / "partial" / f"{variant.slug}-seed{seed}"

    def load(self, variant, seed):
        """The finished result of (variant, seed), or None; ValueError if it was made with another variant."""
        path = self.result_path(variant, seed)
        if not path.is_file():
            return None
        result = _read_json(path)
        _check_variant(path, result.get("variant"), variant)
        _check_result(path, result)
        return result

    def start(self, variant, seed):
        """(checkpoint folder, whether to resume from it) for training (variant, seed).

        A partial run is resumed once it has finished an epoch (the Trainer writes history.json after
        the epoch's checkpoint); one made with another variant is an error, as for finished results.
        """
        folder = self.partial_dir(variant, seed)
        stored = folder / VARIANT
        if stored.is_file():
            _check_variant(folder, _read_json(stored), variant)
        else:
            write_json(stored, variant.as_dict())
        return folder, (folder / HISTORY).is_file()

    def save(self, result, variant, seed):
        """Store a finished result atomically and drop the variant's checkpoint."""
        write_json(self.result_path(variant, seed), result, indent=1)
        shutil.rmtree(self.partial_dir(variant, seed), ignore_errors=True)
        partial = self.path / "partial"
        if partial.is_dir() and not any(partial.iterdir()):
            partial.rmdir()
