"""Trainer: learning, evaluation, modes, no per-step host sync, schedulers, reproducibility, resumption."""
import io
import json

import numpy as np
import pytest
from models_for_tests import blobs, sgd, tiny_model, weights
from util import assert_rounding_close

import xpnet
from xpnet.data import DataLoader
from xpnet.distributed import data_parallel
from xpnet.losses import SoftmaxCrossEntropy
from xpnet.optim import OneCycleLR, ReduceLROnPlateau, StepLR
from xpnet.train import History, Trainer, TrainingDiverged
from xpnet.train import trainer as trainer_module

# -- the trainer ---------------------------------------------------------------


def make_run(seed=0, scheduler=None, batch_size=8, **loader_kw):
    """A fresh model, trainer and shuffled loader, all drawn from xpnet's RNG after `seed`."""
    xpnet.backend.seed(seed)
    model = tiny_model()
    opt = sgd(model)
    sched = scheduler(opt) if scheduler else None
    x, y = blobs()
    return model, Trainer(model, SoftmaxCrossEntropy(), opt, sched), DataLoader(x, y, batch_size, **loader_kw)


def test_fit_learns_a_separable_problem():
    model, trainer, loader = make_run()
    history = trainer.fit(loader, val_loader=loader, epochs=6, verbose=False)
    assert len(history) == 6 and history["epoch"] == [1, 2, 3, 4, 5, 6]
    assert history.train_loss[-1] < 0.5 * history.train_loss[0]
    assert history.val_acc[-1] == 1.0
    assert trainer.evaluate(loader) == pytest.approx({"loss": history.val_loss[-1], "accuracy": 1.0})


def test_evaluate_on_a_hand_made_case():
    model = tiny_model(n_in=2, hidden=2, classes=2)
    model.load_state_dict({"0.weight": np.eye(2), "0.bias": np.zeros(2), "1.weight": np.eye(2), "1.bias": np.zeros(2)})
    x = np.array([[2, 0], [0, 1], [3, 0], [0, 2], [1, 0]], np.float32)
    y = np.array([0, 1, 1, 1, 0])
    logits = x.astype(np.float64)
    nll = np.log(np.exp(logits).sum(1)) - logits[np.arange(5), y]
    # batches of 2, 2, 1: the mean must weight each sample once, not each batch
    result = Trainer(model, SoftmaxCrossEntropy(), sgd(model)).evaluate(DataLoader(x, y, 2, shuffle=False))
    assert result["accuracy"] == pytest.approx(4 / 5)
    assert result["loss"] == pytest.approx(nll.mean(), rel=1e-6)


def test_correct_count_for_each_target_kind():
    def count(logits, y):
        return int(trainer_module.correct_count(xpnet.backend.asarray(logits), xpnet.backend.asarray(y)))
    logits = np.array([[2.0, 1.0], [0.0, 3.0], [1.0, 0.5]], np.float32)
    assert count(logits, np.array([0, 0, 0])) == 2  # class indices
    assert count(logits, np.eye(2, dtype=np.float32)[[0, 1, 1]]) == 2  # one-hot
    binary = np.array([[1.5], [-0.5], [0.2]], np.float32)
    assert count(binary, np.array([[1.0], [0.0], [0.0]], np.float32)) == 2


def test_predict_gives_host_logits_in_eval_mode_and_restores_mode():
    model, trainer, _ = make_run()
    x, _ = blobs(n=7)
    out = trainer.predict(x, batch_size=3)
    w = model.state_dict()
    hidden = x @ w["0.weight"].T + w["0.bias"]
    assert isinstance(out, np.ndarray) and out.shape == (7, 2)
    assert_rounding_close(out, hidden @ w["1.weight"].T + w["1.bias"], np.float32, k=6, depth=2)
    assert model[0].modes == [False] * 3 and model.training
    with pytest.raises(ValueError, match="no inputs"):
        trainer.predict(x[:0])


def test_modes_and_skipped_input_gradient():
    model, trainer, loader = make_run()
    model.eval()
    trainer.fit(loader, val_loader=loader, epochs=1, verbose=False)
    n = len(loader)
    assert model[0].modes == [True] * n + [False] * n  # train() during fit, eval() while validating
    assert not model.training  # the caller's mode comes back
    assert model[0].input_grads == [False] * n and model[1].input_grads == [True] * n


def count_reads(monkeypatch):
    """Count the device-to-host reads of the trainer and of its sums (xpnet.distributed.data_parallel)."""
    calls = []
    real = trainer_module.to_numpy
    for module in (trainer_module, data_parallel):
        monkeypatch.setattr(module, "to_numpy", lambda a: calls.append(1) or real(a))
    return calls


@pytest.mark.parametrize("batch_size", [4, 12])
def test_no_host_sync_per_step_when_quiet(monkeypatch, batch_size):
    _, trainer, loader = make_run(batch_size=batch_size)
    reads = count_reads(monkeypatch)
    trainer.fit(loader, val_loader=loader, epochs=2, verbose=False)
    # per epoch: the training sums (loss + correct), whether the weights are finite, the validation sums
    assert len(reads) == 2 * (2 + 1 + 2)


def test_progress_bar_reads_only_every_log_every_steps(monkeypatch, capsys):
    _, trainer, loader = make_run(batch_size=6)  # 8 steps per epoch
    trainer.log_every = 3

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    reads = count_reads(monkeypatch)
    trainer.fit(loader, epochs=1, verbose=True)
    assert len(reads) == 2 * (8 // 3 + 1) + 1  # steps 3 and 6, the epoch end, then whether the weights are finite
    assert "loss=" in terminal.getvalue() and "img_s=" in terminal.getvalue()
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["epoch", "train", "loss"] and table[2].split()[0] == "1"


def test_epoch_scheduler_and_recorded_lr():
    _, trainer, loader = make_run(scheduler=lambda opt: StepLR(opt, step_size=2, gamma=0.5))
    history = trainer.fit(loader, epochs=5, verbose=False)
    assert history.lr == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025])


class Recorder:
    """A scheduler stand-in recording how the trainer steps it."""

    def __init__(self, per_batch=False):
        self.per_batch, self.calls = per_batch, 0

    def step(self):
        self.calls += 1


def test_per_batch_scheduler_steps_every_batch():
    model, _, loader = make_run()
    sched = Recorder(per_batch=True)
    Trainer(model, SoftmaxCrossEntropy(), sgd(model), sched).fit(loader, epochs=2, verbose=False)
    assert sched.calls == 2 * len(loader)
    sched = Recorder()
    Trainer(model, SoftmaxCrossEntropy(), sgd(model), sched).fit(loader, epochs=2, verbose=False)
    assert sched.calls == 2


def test_one_cycle_steps_per_batch_and_ends_where_torch_does(torch):
    epochs = 3
    model, _, loader = make_run()
    total = epochs * len(loader)
    opt = sgd(model)
    trainer = Trainer(model, SoftmaxCrossEntropy(), opt, OneCycleLR(opt, max_lr=0.5, total_steps=total))
    history = trainer.fit(loader, epochs=epochs, verbose=False)

    tparam = torch.nn.Parameter(torch.zeros(1))
    topt = torch.optim.SGD([tparam], lr=0.1, momentum=0.9)
    tsched = torch.optim.lr_scheduler.OneCycleLR(topt, max_lr=0.5, total_steps=total)
    lrs = []
    for _ in range(epochs):
        for _ in range(len(loader)):
            topt.step()
            tsched.step()
        lrs.append(topt.param_groups[0]["lr"])
    assert history.lr == pytest.approx(lrs, rel=1e-12)  # the lr after each epoch's last batch
    group, tgroup = trainer.optimizer.param_groups[0], topt.param_groups[0]
    assert group["lr"] == pytest.approx(tgroup["lr"], rel=1e-12)
    assert group["momentum"] == pytest.approx(tgroup["momentum"], rel=1e-12)


@pytest.mark.parametrize("with_val", [True, False])
def test_plateau_scheduler_gets_the_monitored_loss(monkeypatch, with_val):
    _, trainer, loader = make_run(scheduler=lambda opt: ReduceLROnPlateau(opt, patience=0))
    seen = []
    real_step = trainer.scheduler.step
    monkeypatch.setattr(trainer.scheduler, "step", lambda metrics: seen.append(metrics) or real_step(metrics))
    history = trainer.fit(loader, val_loader=loader if with_val else None, epochs=3, verbose=False)
    assert seen == (history.val_loss if with_val else history.train_loss)
    assert all(isinstance(m, float) for m in seen)


def test_same_seed_same_weights():
    runs = []
    for seed in (3, 3, 4):
        model, trainer, loader = make_run(seed)
        trainer.fit(loader, epochs=2, verbose=False)
        runs.append(weights(model))
    assert all(np.array_equal(a, b) for a, b in zip(runs[0], runs[1]))
    assert not all(np.array_equal(a, b) for a, b in zip(runs[0], runs[2]))


class Interrupted(Exception):
    pass


class DiesInEpoch2(DataLoader):
    """A DataLoader whose second epoch stops with Interrupted after three batches (a killed run)."""

    epochs = 0

    def __iter__(self):
        self.epochs += 1
        for i, batch in enumerate(super().__iter__()):
            if self.epochs == 2 and i == 3:
                raise Interrupted
            yield batch


def test_resume_ends_with_exactly_the_uninterrupted_weights(tmp_path):
    val = DataLoader(*blobs(n=20, seed=8), 8, shuffle=False)
    plan = dict(scheduler=lambda opt: StepLR(opt, step_size=1, gamma=0.7))
    model, trainer, loader = make_run(**plan)
    full = trainer.fit(loader, val_loader=val, epochs=3, verbose=False)
    expected, rng_after = weights(model), xpnet.backend.get_rng_state()

    model, trainer, loader = make_run(**plan)
    loader.__class__ = DiesInEpoch2
    with pytest.raises(Interrupted):
        trainer.fit(loader, val_loader=val, epochs=3, out_dir=tmp_path, verbose=False)
    assert len(History.from_json(tmp_path / "history.json")) == 1

    model, trainer, loader = make_run(seed=99, **plan)  # another init and shuffle: all must come from the checkpoint
    resumed = trainer.fit(loader, val_loader=val, epochs=3, out_dir=tmp_path, resume=True, verbose=False)
    assert all(np.array_equal(a, b) for a, b in zip(weights(model), expected))
    assert xpnet.backend.get_rng_state() == rng_after
    assert resumed.epoch == [1, 2, 3] and resumed.lr == full.lr
    assert resumed.train_loss == full.train_loss and resumed.val_loss == full.val_loss
    assert History.from_json(tmp_path / "history.json") == resumed


def test_resume_needs_a_checkpoint(tmp_path):
    _, trainer, loader = make_run()
    with pytest.raises(ValueError, match="out_dir"):
        trainer.fit(loader, resume=True, verbose=False)
    with pytest.raises(FileNotFoundError, match="checkpoint"):
        trainer.fit(loader, out_dir=tmp_path, resume=True, verbose=False)


def test_history_columns_and_json_round_trip(tmp_path):
    history = History([{"epoch": 1, "train_loss": 0.5, "val_loss": None, "lr": 0.1},
                       {"epoch": 2, "train_loss": 0.25, "val_loss": None, "lr": 0.1}])
    assert history["train_loss"] == history.train_loss == [0.5, 0.25]
    assert history[1]["epoch"] == 2 and history.val_acc == [None, None]
    with pytest.raises(AttributeError, match="no column 'nope'"):
        history.nope
    history.to_json(tmp_path / "h.json")
    assert History.from_json(tmp_path / "h.json") == history
    assert [p.name for p in tmp_path.iterdir()] == ["h.json"]  # no temp file left behind
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="bad.json"):
        History.from_json(tmp_path / "bad.json")
    (tmp_path / "bad.json").write_text(json.dumps({"epoch": 1}))
    with pytest.raises(ValueError, match="list of per-epoch records"):
        History.from_json(tmp_path / "bad.json")


def test_log_every_and_check_every_must_be_positive():
    model = tiny_model()
    with pytest.raises(ValueError, match="log_every must be >= 1, got 0"):
        Trainer(model, SoftmaxCrossEntropy(), sgd(model), log_every=0)
    with pytest.raises(ValueError, match="check_every must be >= 1, got 0"):
        Trainer(model, SoftmaxCrossEntropy(), sgd(model), check_every=0)


# -- divergence ------------------------------------------------------------------

class PoisonedAt(DataLoader):
    """A DataLoader whose batch `step` (1-based) of epoch `epoch` holds a NaN, as a diverged model would give."""

    def __init__(self, epoch, step, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.bad, self.epochs, self.served = (epoch, step), 0, 0

    def __iter__(self):
        self.epochs += 1
        for i, (x, y) in enumerate(super().__iter__(), 1):
            if (self.epochs, i) == self.bad:
                x = x.copy()
                x[0, 0] = float("nan")
            self.served += 1
            yield x, y


def test_divergence_names_epoch_and_step_and_keeps_the_last_good_checkpoint(tmp_path):
    model, trainer, _ = make_run()
    loader = PoisonedAt(2, 4, *blobs(), 8)  # 6 steps per epoch
    trainer.fit(loader, epochs=1, out_dir=tmp_path, verbose=False)
    saved = (tmp_path / "checkpoint" / "model.safetensors").read_bytes()
    history = (tmp_path / "history.json").read_text()
    with pytest.raises(TrainingDiverged, match=r"^training diverged: the loss became nan at step 4 of epoch 2 "
                                               r"\(learning rate 0.1\); try a lower learning rate; the checkpoint in "
                                               r".*checkpoint is still epoch 1's$"):
        trainer.fit(loader, epochs=3, out_dir=tmp_path, resume=True, verbose=False)
    assert (tmp_path / "checkpoint" / "model.safetensors").read_bytes() == saved
    assert (tmp_path / "history.json").read_text() == history
    assert isinstance(TrainingDiverged("x"), ValueError)


def test_divergence_is_read_at_a_cadence_not_every_step(monkeypatch):
    _, trainer, _ = make_run()
    trainer.check_every = 3
    reads = count_reads(monkeypatch)
    loader = PoisonedAt(1, 1, *blobs(), 8)  # 6 steps per epoch
    with pytest.raises(TrainingDiverged, match="at step 1 of epoch 1") as err:
        trainer.fit(loader, epochs=1, verbose=False)
    assert "checkpoint" not in str(err.value)
    assert loader.served == 3 and len(reads) == 2 + 1  # the sums at step 3, then the count of finite steps


def test_weights_that_stop_being_finite_stop_the_run_before_the_checkpoint(tmp_path):
    model, trainer, loader = make_run()
    real_step = trainer.optimizer.step
    steps = []

    def step():  # the epoch's last update leaves an infinite weight while every loss was finite
        real_step()
        steps.append(1)
        if len(steps) == len(loader):
            model[0].weight.data[0, 0] = float("inf")

    trainer.optimizer.step = step
    with pytest.raises(TrainingDiverged, match="weights became NaN or infinite in epoch 1"):
        trainer.fit(loader, epochs=2, out_dir=tmp_path, verbose=False)
    assert not (tmp_path / "checkpoint").exists()
