"""`Trainer`: the training loop, evaluation and prediction, with checkpoints and resumption.

A training step queues work on the device and never waits for it: the loss and the
count of correct predictions are summed as device arrays, and read on the host only
every `log_every` steps (when the progress bar is shown), every `check_every` steps
otherwise, and at the end of the epoch. Each read also checks that the loss sum is
finite: a run that diverges stops there with `TrainingDiverged`, naming the first
step whose loss was not finite (counted on the device as it goes), before the
epoch's checkpoint is written. The epoch ends with one more read, of whether every
weight is still finite, so a checkpoint never holds a diverged model.

Given a communicator (`comm`, xpnet.distributed), the trainer is one of several processes
training one model on the parts of each batch its loader yields: `DataParallel` sums the
gradients after each backward pass and the counts at each read, and only rank 0 prints and
writes the checkpoint.
"""
import contextlib
import math
import time
from pathlib import Path

from ..backend import asarray, to_numpy, xp
from ..distributed.data_parallel import DataParallel
from . import progress
from .checkpoint import load_checkpoint, save_checkpoint
from .history import History

CHECKPOINT = "checkpoint"
HISTORY = "history.json"


def correct_count(logits, y):
    """Device count of correct predictions: class indices y (N,), one-hot/soft targets shaped like
    logits (argmax of both), or binary targets with one logit per sample (logit > 0)."""
    if logits.ndim == 1 or logits.shape[1] == 1:
        return ((logits.reshape(-1) > 0) == (y.reshape(-1) > 0.5)).sum()
    guess = xp.argmax(logits, axis=1)
    return (guess == (xp.argmax(y, axis=1) if y.shape == logits.shape else y)).sum()


class TrainingDiverged(ValueError):
    """The training loss or the weights stopped being finite (NaN or infinite); the message says where."""


class _Meter:
    """Running sums of loss (weighted by batch size) and correct predictions, kept on the device.

    `finite_steps` counts the steps after which the loss sum was still finite: once a loss is
    NaN or infinite the sum stays so, hence the first bad step is finite_steps + 1.
    """

    def __init__(self):
        self.loss_sum, self.correct, self.seen, self.finite_steps = 0, 0, 0, 0

    def add(self, loss, logits, y):
        n = len(y)
        self.loss_sum = self.loss_sum + loss * n
        self.correct = self.correct + correct_count(logits, y)
        self.finite_steps = self.finite_steps + xp.isfinite(self.loss_sum)
        self.seen += n

    def read(self, parallel):
        """(mean loss, accuracy, samples) over every process as Python numbers: the one place that waits
        for the device."""
        if self.seen == 0:
            raise ValueError("Trainer: the data loader yielded no batches")
        loss_sum, correct, seen = parallel.sum_counts(self.loss_sum, self.correct, self.seen)
        return loss_sum / seen, correct / seen, seen


@contextlib.contextmanager
def _mode(model, training):
    """Run a block with the model in train or eval mode, then restore its mode."""
    saved = model.training
    model.train(training)
    try:
        yield
    finally:
        model.train(saved)


class Trainer:
    """Trains `model` with `loss` and `optimizer`; `scheduler` is optional.

    Schedulers step once per epoch after validation; one with a true `needs_metric` attribute
    (ReduceLROnPlateau) gets the validation loss, or the training loss without a validation set.
    One with a true `per_batch` attribute (OneCycleLR) steps after every batch instead.
    `comm`: the communicator of a data-parallel run (xpnet.distributed.world()); None for one process.
    """

    def __init__(self, model, loss, optimizer, scheduler=None, log_every=20, check_every=100, comm=None):
        for name, value in (("log_every", log_every), ("check_every", check_every)):
            if value < 1:
                raise ValueError(f"Trainer: {name} must be >= 1, got {value}")
        self.model, self.loss, self.optimizer, self.scheduler = model, loss, optimizer, scheduler
        self.log_every, self.check_every = log_every, check_every
        self.per_batch = bool(getattr(scheduler, "per_batch", False))
        self.parallel = DataParallel(comm, model, loss)
        model.needs_input_grad = False  # nobody needs d loss / d images: the first layer skips that work

    # -- training ------------------------------------------------------------
    def fit(self, train_loader, val_loader=None, epochs=1, out_dir=None, resume=False, verbose=True,
            metadata=None, val_name="val"):
        """Train for epochs up to `epochs` and return the `History`.

        With `out_dir`, each epoch ends by saving `out_dir/checkpoint` (see checkpoint.py; `metadata`
        goes into its model file) and `out_dir/history.json`. `resume=True` loads that checkpoint
        (weights, optimizer, scheduler, RNG, loader shuffle state, history) and continues with the
        epoch after it. A diverging run raises `TrainingDiverged` and leaves the last good epoch's
        checkpoint in place. With several processes, an error on one ends them all (xpnet.distributed).
        `val_name` heads the printed validation columns ("test" where the test set serves as validation set).
        """
        if resume and out_dir is None:
            raise ValueError("Trainer.fit: resume=True needs out_dir (where the checkpoint is)")
        with self.parallel.fail_together("xpnet", collective=(TrainingDiverged,)):
            return self._fit(train_loader, val_loader, epochs, out_dir, resume, verbose, metadata, val_name)

    def _fit(self, train_loader, val_loader, epochs, out_dir, resume, verbose, metadata, val_name):
        history = History()
        first = 1
        load = None
        if resume:
            def load():
                return load_checkpoint(Path(out_dir) / CHECKPOINT, self.model, self.optimizer, self.scheduler,
                                       loader=_stateful(train_loader))
        info = self.parallel.start(self.optimizer, self.scheduler, _stateful(train_loader), load)
        if resume:
            history, first = History(info["history"]), info["epoch"] + 1
        verbose = verbose and self.parallel.writer
        writes = out_dir is not None and self.parallel.writer
        show = progress.EpochPrinter(val_name)
        saved = first - 1  # the epoch of the checkpoint on disk from this run
        with _mode(self.model, True):
            for epoch in range(first, epochs + 1):
                try:
                    record = self._epoch(train_loader, val_loader, epoch, epochs, verbose)
                except TrainingDiverged as exc:
                    if not writes:
                        raise
                    kept = (f"the checkpoint in {Path(out_dir) / CHECKPOINT} is still epoch {saved}'s" if saved
                            else "no checkpoint of this run was written")
                    raise TrainingDiverged(f"{exc}; {kept}") from None
                history.append(record)
                if writes:
                    save_checkpoint(Path(out_dir) / CHECKPOINT, self.model, self.optimizer, self.scheduler,
                                    epoch=epoch, loader=_stateful(train_loader), history=history.records,
                                    metadata=metadata)
                    history.to_json(Path(out_dir) / HISTORY)
                    saved = epoch
                if verbose:
                    show(record)
        return history

    def _epoch(self, train_loader, val_loader, epoch, epochs, verbose):
        """One epoch of training (and validation); returns its History record."""
        start = time.perf_counter()
        meter = _Meter()
        with progress.epoch_bar(len(train_loader), epoch, epochs, verbose) as bar:
            shown = self.parallel.agree(not bar.disable)  # reads are collective: all processes read alike
            for step, (x, y) in enumerate(train_loader, 1):
                self._step(x, y, meter)
                bar.update()
                if shown and step % self.log_every == 0:
                    loss, acc, seen = self._read(meter, epoch)
                    bar.set_postfix(loss=f"{loss:.4f}", acc=f"{acc:.4f}",
                                    img_s=f"{seen / (time.perf_counter() - start):.0f}")
                elif step % self.check_every == 0:
                    self._read(meter, epoch)
        train_loss, train_acc, seen = self._read(meter, epoch)
        self._check_weights(epoch)
        self.parallel.end_epoch(epoch)
        train_seconds = time.perf_counter() - start
        lr = self.optimizer.param_groups[0]["lr"]
        val = self.evaluate(val_loader) if val_loader is not None else {"loss": None, "accuracy": None}
        if self.scheduler is not None and not self.per_batch:
            if getattr(self.scheduler, "needs_metric", False):
                self.scheduler.step(train_loss if val["loss"] is None else val["loss"])
            else:
                self.scheduler.step()
        return {"epoch": epoch, "train_loss": train_loss, "train_acc": train_acc, "val_loss": val["loss"],
                "val_acc": val["accuracy"], "lr": lr, "seconds": time.perf_counter() - start,
                "images_per_s": seen / train_seconds}

    def _read(self, meter, epoch):
        """The meter's (mean loss, accuracy, samples); TrainingDiverged if the loss sum is no longer finite."""
        loss, acc, seen = meter.read(self.parallel)
        if not math.isfinite(loss):
            step = self.parallel.min_count(meter.finite_steps) + 1
            raise self._diverged(f"the loss became {loss} at step {step} of epoch {epoch}")
        return loss, acc, seen

    def _check_weights(self, epoch):
        """TrainingDiverged unless every weight is finite (the loss can stay finite one step longer)."""
        params = self.model.parameters()
        if params and not bool(to_numpy(xp.stack([xp.isfinite(p.data).all() for p in params]).all())):
            raise self._diverged(f"weights became NaN or infinite in epoch {epoch}")

    def _diverged(self, what):
        lr = self.optimizer.param_groups[0]["lr"]
        return TrainingDiverged(f"training diverged: {what} (learning rate {lr:.3g}); try a lower learning rate")

    def _step(self, x, y, meter):
        """One optimisation step; queues device work only."""
        self.optimizer.zero_grad()
        logits = self.model(x)
        loss = self.loss(logits, y)
        self.model.backward(self.parallel.loss_gradient())
        self.parallel.reduce_gradients()
        self.optimizer.step()
        if self.per_batch:
            self.scheduler.step()
        meter.add(loss, logits, y)

    # -- inference -------------------------------------------------------------
    def evaluate(self, loader):
        """Mean loss and accuracy over `loader`, in eval mode: {"loss": float, "accuracy": float}."""
        meter = _Meter()
        with _mode(self.model, False):
            for x, y in loader:
                logits = self.model(x)
                meter.add(self.loss(logits, y), logits, y)
        loss, acc, _ = meter.read(self.parallel)
        return {"loss": loss, "accuracy": acc}

    def predict(self, x, batch_size=1024):
        """Logits for inputs `x` (host or backend array), in eval mode, as a host NumPy array.

        Class labels are `trainer.predict(x).argmax(axis=1)`.
        """
        if len(x) == 0:
            raise ValueError("Trainer.predict: got no inputs (len(x) == 0)")
        with _mode(self.model, False):
            out = [self.model(asarray(x[i:i + batch_size])) for i in range(0, len(x), batch_size)]
        return to_numpy(xp.concatenate(out))


def _stateful(loader):
    """The loader if it can save its shuffle state, else None."""
    return loader if hasattr(loader, "state_dict") and hasattr(loader, "load_state_dict") else None
