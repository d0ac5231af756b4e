"""Console output of training: a tqdm bar per epoch (stderr) and one tabulate table row per epoch (stdout)."""
import sys

from tabulate import tabulate
from tqdm import tqdm

# Headers at least as wide as their values, so rows printed one at a time line up; {val} names the
# validation set ("val", or "test" where the test set serves as one).
_HEADERS = ("epoch", "train loss", "train acc", "{val} loss", "{val} acc", "learning rate", "seconds", "images/s")
_KEYS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds", "images_per_s")
_FORMATS = ("d", ".4f", ".4f", ".4f", ".4f", ".3e", ".1f", ".0f")


def epoch_bar(total, epoch, epochs, verbose):
    """A progress bar over one epoch's batches; off when not verbose or stderr is not a terminal."""
    return tqdm(total=total, desc=f"epoch {epoch}/{epochs}", unit="batch", leave=False, file=sys.stderr,
                disable=None if verbose else True, dynamic_ncols=True)


def table(records, val_name="val"):
    """The per-epoch summary table of `records` (History records) as text, the validation set called `val_name`."""
    rows = [[r.get(k) for k in _KEYS] for r in records]
    headers = [h.format(val=val_name) for h in _HEADERS]
    return tabulate(rows, headers=headers, floatfmt=_FORMATS, missingval="-")


class EpochPrinter:
    """Prints one table row per epoch as it ends, the header before the first."""

    def __init__(self, val_name="val"):
        self.started, self.val_name = False, val_name

    def __call__(self, record):
        lines = table([record], self.val_name).splitlines()
        print("\n".join(lines if not self.started else lines[-1:]), flush=True)
        self.started = True
