"""`History`: one record per epoch (epoch, train_loss, train_acc, val_loss, val_acc, lr, seconds, ...)."""
import json

from ..io import write_json

COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds", "images_per_s")


class History:
    """Per-epoch records with column access: `history["val_acc"]` or `history.val_acc` -> list.

    `history[i]` is the i-th record (a dict). Missing values (no validation set) are None.
    """

    def __init__(self, records=()):
        self.records = [dict(r) for r in records]

    def append(self, record):
        self.records.append(dict(record))

    @property
    def columns(self):
        """The standard columns, then any others in first-seen order."""
        return list(dict.fromkeys([*COLUMNS, *(k for r in self.records for k in r)]))

    def __getitem__(self, key):
        if isinstance(key, str):
            if key not in self.columns:
                raise KeyError(f"History has no column {key!r}; columns are {self.columns}")
            return [r.get(key) for r in self.records]
        return self.records[key]

    def __getattr__(self, name):
        if name.startswith("_") or name == "records":
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError as exc:
            raise AttributeError(exc.args[0]) from None

    def __len__(self):
        return len(self.records)

    def __iter__(self):
        return iter(self.records)

    def __eq__(self, other):
        return isinstance(other, History) and self.records == other.records

    def __repr__(self):
        return f"History({len(self)} epochs, columns={self.columns})"

    def to_json(self, path):
        """Write the records as a JSON list, atomically."""
        write_json(path, self.records, indent=1)

    @classmethod
    def from_json(cls, path):
        """Read records written by `to_json`; a bad file raises ValueError naming it."""
        try:
            with open(path) as f:
                records = json.load(f)
        except ValueError as exc:
            raise ValueError(f"{path}: not a valid history JSON file ({exc})") from exc
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise ValueError(f"{path}: expected a JSON list of per-epoch records")
        return cls(records)
