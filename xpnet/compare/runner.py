"""Training the variants of a comparison through the public API: models, DataLoader, Trainer, optimizers.

Each (variant, seed) starts from `backend.seed(seed)` (weights, dropout) and a loader shuffled
with `seed`, trains for the folder's epochs with the test set as validation set (one record per
epoch in its History), and ends with one timed evaluation pass over the test set: that pass is the
inference time, and its accuracy the final test accuracy.
"""
import sys
import time

from tqdm import tqdm

from .. import backend
from ..data import DataLoader, load
from ..losses import SoftmaxCrossEntropy
from ..train import History, Trainer
from ..train.trainer import HISTORY

TEST_BATCH = 1000


def load_data(dataset, subset=None, test_subset=None, root=None):
    """(x, y, x_test, y_test) host arrays: the first `subset` / `test_subset` images of each split (None: all)."""
    x, y = load(dataset, "train", root)
    x_test, y_test = load(dataset, "test", root)
    for n, split, available in ((subset, "training", len(x)), (test_subset, "test", len(x_test))):
        if n is not None and n > available:
            raise ValueError(f"asked for {n} {split} images, but {dataset} has {available}")
    return x[:subset], y[:subset], x_test[:test_subset], y_test[:test_subset]


class _Counting:
    """A loader that advances a progress bar with every batch; saves and restores the loader's shuffle state."""

    def __init__(self, loader, bar):
        self.loader, self.bar = loader, bar

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        for batch in self.loader:
            yield batch
            self.bar.update()

    def state_dict(self):
        return self.loader.state_dict()

    def load_state_dict(self, state):
        self.loader.load_state_dict(state)


def train_variant(variant, seed, settings, data, folder, verbose=True):
    """Train (variant, seed), resuming its partial checkpoint in `folder` if there is one; returns its result."""
    x, y, x_test, y_test = data
    backend.seed(seed)
    model, optimizer = variant.build()
    trainer = Trainer(model, SoftmaxCrossEntropy(), optimizer)
    train_loader = DataLoader(x, y, settings.batch_size, shuffle=True, seed=seed)
    test_loader = DataLoader(x_test, y_test, max(settings.batch_size, TEST_BATCH), shuffle=False)
    out_dir, resume = folder.start(variant, seed)
    done = len(History.from_json(out_dir / HISTORY)) if resume else 0
    steps = len(train_loader)
    with tqdm(total=settings.epochs * steps, initial=done * steps, desc=f"{variant.name} seed {seed}",
              unit="batch", leave=False, file=sys.stderr, disable=None if verbose else True,
              dynamic_ncols=True) as bar:
        history = trainer.fit(_Counting(train_loader, bar), test_loader, epochs=settings.epochs, out_dir=out_dir,
                              resume=resume, verbose=False)
    backend.synchronize()
    start = time.perf_counter()
    final = trainer.evaluate(test_loader)  # reads the result on the host, so the work has finished
    test_seconds = time.perf_counter() - start
    return {"variant": variant.as_dict(), "seed": seed, "backend": backend.current(),
            "parameters": sum(int(p.data.size) for p in model.parameters()),
            "train_images": len(x), "test_images": len(x_test),
            "test_loss": final["loss"], "test_accuracy": final["accuracy"], "test_seconds": test_seconds,
            "history": history.records}


def run(variants, seeds, settings, data, folder, verbose=True):
    """The results of every (variant, seed), in that order: stored ones read back, missing ones trained
    and stored as each finishes."""
    results = []
    for variant in variants:
        for seed in seeds:
            result = folder.load(variant, seed)
            if result is None:
                result = train_variant(variant, seed, settings, data, folder, verbose)
                folder.save(result, variant, seed)
                if verbose:
                    print(_line(result), flush=True)
            results.append(result)
    return results


def _line(result):
    """One line about a finished (variant, seed)."""
    history = result["history"]
    return (f"{result['variant']['name']} seed {result['seed']}: test accuracy {result['test_accuracy']:.2%} "
            f"after {len(history)} epoch(s) in {sum(r['seconds'] for r in history):.0f} s")
