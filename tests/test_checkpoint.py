"""Checkpoints: round trip, PyTorch interchange, clear errors for bad files, atomic saves."""
import json
import os
import stat

import numpy as np
import pytest
from models_for_tests import Counter, blobs, sgd, tiny_model, weights
from safetensors.numpy import load_file
from util import assert_rounding_close

import xpnet
from xpnet.backend import asarray, to_numpy
from xpnet.data import DataLoader
from xpnet.layers import Sequential
from xpnet.optim import Adam, OneCycleLR, StepLR
from xpnet.train import load_checkpoint, load_weights, model_file, save_checkpoint, save_weights


def trained(seed=0, epochs=1):
    """A model, momentum SGD with state, a StepLR and a shuffled loader, after `epochs` epochs."""
    xpnet.backend.seed(seed)
    model = tiny_model()
    opt = sgd(model, lr=0.01)
    sched = StepLR(opt, step_size=1, gamma=0.5)
    loader = DataLoader(*blobs(), 8)
    for _ in range(epochs):
        for x, _ in loader:
            opt.zero_grad()
            model.backward(model(x) - 1.0)
            opt.step()
        sched.step()
    return model, opt, sched, loader


def test_round_trip_restores_every_part(tmp_path):
    model, opt, sched, loader = trained()
    extra = {"note": "hi", "best": np.float32(0.5), "mask": np.array([1, 0], np.uint8), "pair": (1, 2), 3: [None]}
    save_checkpoint(tmp_path / "ck", model, opt, sched, epoch=4, extra=extra, loader=loader,
                    history=[{"epoch": 1, "train_loss": 0.5}])
    rng_state = xpnet.backend.get_rng_state()
    assert sorted(os.listdir(tmp_path)) == ["ck"]
    assert sorted(os.listdir(tmp_path / "ck")) == ["model.safetensors", "state.json", "training.safetensors"]

    model2, opt2, sched2, loader2 = trained(seed=5, epochs=0)
    info = load_checkpoint(tmp_path / "ck", model2, opt2, sched2, loader=loader2)
    assert info["epoch"] == 4 and info["history"] == [{"epoch": 1, "train_loss": 0.5}]
    got = info["extra"]
    assert got.keys() == extra.keys() and got["pair"] == (1, 2) and got[3] == [None]
    assert got["best"] == extra["best"] and got["best"].dtype == np.float32
    assert np.array_equal(got["mask"], extra["mask"]) and got["mask"].dtype == np.uint8
    assert all(np.array_equal(a, b) for a, b in zip(weights(model2), weights(model)))
    state, state2 = opt.state_dict(), opt2.state_dict()
    assert state2["param_groups"] == state["param_groups"]
    for i, entry in state["state"].items():
        assert np.array_equal(state2["state"][i]["momentum_buffer"], entry["momentum_buffer"])
    assert sched2.state_dict() == sched.state_dict()
    assert xpnet.backend.get_rng_state() == rng_state
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(loader2, loader))  # the same next shuffle


def test_weights_file_is_exactly_the_state_dict_with_dtypes(tmp_path):
    model = Sequential(tiny_model(), Counter())
    model[1].num_batches_tracked += 7
    save_checkpoint(tmp_path / "ck", model)
    saved = load_file(tmp_path / "ck" / "model.safetensors")
    expected = model.state_dict()
    assert sorted(saved) == sorted(expected)
    for key, value in expected.items():
        assert saved[key].dtype == value.dtype and np.array_equal(saved[key], value), key
    assert saved["1.num_batches_tracked"].dtype == np.int64 and saved["1.num_batches_tracked"] == 7
    save_weights(tmp_path / "w.safetensors", model)
    fresh = Sequential(tiny_model(), Counter())
    assert load_weights(tmp_path / "w.safetensors", fresh) is fresh
    assert all(np.array_equal(a, b) for a, b in zip(weights(fresh), weights(model)))


def test_torch_reads_and_writes_the_weights(tmp_path, torch):
    from safetensors.torch import load_file as torch_load, save_file as torch_save

    model = tiny_model()
    save_checkpoint(tmp_path / "ck", model)
    net = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Linear(6, 2))
    net.load_state_dict(torch_load(tmp_path / "ck" / "model.safetensors"))
    x, _ = blobs(n=5)
    assert_rounding_close(model(asarray(x)), net(torch.from_numpy(x)), np.float32, k=6, depth=2)

    torch.manual_seed(0)
    other = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Linear(6, 2))
    torch_save(other.state_dict(), tmp_path / "torch.safetensors")
    load_weights(tmp_path / "torch.safetensors", model)
    assert_rounding_close(model(asarray(x)), other(torch.from_numpy(x)), np.float32, k=6, depth=2)


@pytest.mark.parametrize("damage", ["random", "truncated"])
def test_damaged_files_name_themselves(tmp_path, damage):
    model = tiny_model()
    save_checkpoint(tmp_path / "ck", model)
    file = tmp_path / "ck" / "model.safetensors"
    data = file.read_bytes()
    file.write_bytes(np.random.default_rng(0).bytes(len(data)) if damage == "random" else data[:-10])
    with pytest.raises(ValueError, match=r"model\.safetensors.*checksum"):
        load_checkpoint(tmp_path / "ck", model)
    expected = "not a safetensors file" if damage == "random" else "truncated: its header lists"
    with pytest.raises(ValueError, match=rf"model\.safetensors: .*{expected}"):
        load_weights(tmp_path / "ck", model)


def test_bad_state_file_and_missing_checkpoint(tmp_path):
    model = tiny_model()
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path / "none", model)
    save_checkpoint(tmp_path / "ck", model)
    state = tmp_path / "ck" / "state.json"
    for text in ("\x00garbage", json.dumps([1]), json.dumps({"format": "other"})):
        state.write_text(text)
        with pytest.raises(ValueError, match=r"state\.json: not a valid xpnet checkpoint"):
            load_checkpoint(tmp_path / "ck", model)


def test_wrong_architecture_names_file_and_keys(tmp_path):
    save_checkpoint(tmp_path / "ck", tiny_model(), epoch=1)
    with pytest.raises(ValueError, match=r"model\.safetensors.*0\.weight: expected shape \(6, 5\), got \(6, 4\)"):
        load_checkpoint(tmp_path / "ck", tiny_model(n_in=5))
    with pytest.raises(ValueError, match=r"model\.safetensors.*unexpected keys") as err:
        load_weights(tmp_path / "ck", Sequential(tiny_model()[0]))
    assert "'1.weight'" in str(err.value) and "'1.bias'" in str(err.value)


def test_optimizer_state_that_does_not_fit_names_the_file(tmp_path):
    model, opt, _, _ = trained()
    save_checkpoint(tmp_path / "ck", model, opt)
    small = Sequential(tiny_model()[0])
    big = tiny_model()
    with pytest.raises(ValueError, match=r"state\.json: optimizer state does not fit"):
        load_checkpoint(tmp_path / "ck", big, sgd(small))
    with pytest.raises(ValueError, match=r"state\.json: checkpoint holds no scheduler state"):
        load_checkpoint(tmp_path / "ck", big, sgd(big), StepLR(sgd(big), 1))


def _adam_one_cycle(model):
    optimizer = Adam(model.parameters(), lr=0.01)
    return optimizer, OneCycleLR(optimizer, 0.1, total_steps=10)


NESTED = {}
for _ in range(600):
    NESTED = {"a": NESTED}


@pytest.mark.parametrize("path, value, expected", [
    (("optimizer", "param_groups", 0, "lr"), "fast", r"optimizer state does not fit: .*group 0 'lr' is 'fast'; "
                                                     r"expected a finite number"),
    (("optimizer", "param_groups", 0, "betas", "__tuple__"), [5, -3], r"invalid betas \(5, -3\)"),
    (("optimizer", "param_groups", 0, "eps"), -1, r"invalid eps -1"),
    (("optimizer", "param_groups", 0, "max_lr"), float("nan"), r"'max_lr' is nan; expected a finite number"),
    (("optimizer", "param_groups", 0, "amsgrad"), "yes", r"'amsgrad' is 'yes'; expected True or False"),
    (("optimizer", "state", "__items__", 0, 1, "step"), "abc", r"state 'step' of parameter 0 is 'abc'; expected a "
                                                               r"step count >= 0"),
    (("optimizer", "state", "__items__", 0, 1, "step"), -1, r"step count >= 0"),
    (("scheduler", "phases", 0, "__tuple__", 1), "nope", r"scheduler state does not fit: .*phases\[0\]\[1\] is "
                                                         r"'nope'; expected 'initial_lr'"),
    (("scheduler", "last_epoch"), -3, r"last_epoch is -3; expected a whole number >= 0"),
    (("scheduler", "base_lrs"), [0.1, 0.2], r"base_lrs is \[0.1, 0.2\]; expected 1 entries"),
    (("history", 0, "seconds"), "x", r"history .*expected a list of at most 1 per-epoch records of numbers"),
    (("extra",), NESTED, r"nested too deeply"),
])
def test_tampered_training_state_is_refused_naming_the_file_and_key(tmp_path, path, value, expected):
    """state.json comes from a file: every value is checked when it loads, not found wrong steps later."""
    model = tiny_model()
    optimizer, scheduler = _adam_one_cycle(model)
    for p in model.parameters():
        p.grad = p.data * 0 + 1
    optimizer.step()
    scheduler.step()
    save_checkpoint(tmp_path / "ck", model, optimizer, scheduler, epoch=1, history=[{"epoch": 1, "seconds": 1.0}])
    state = json.loads((tmp_path / "ck" / "state.json").read_text())
    entry = state
    for key in path[:-1]:
        entry = entry[key]
    entry[path[-1]] = value
    (tmp_path / "ck" / "state.json").write_text(json.dumps(state))
    fresh = tiny_model()
    with pytest.raises(ValueError, match=r"state\.json: .*" + expected):
        load_checkpoint(tmp_path / "ck", fresh, *_adam_one_cycle(fresh))


def test_unstorable_state_is_refused(tmp_path):
    with pytest.raises(TypeError, match="cannot store object at 'extra/f'"):
        save_checkpoint(tmp_path / "ck", tiny_model(), extra={"f": object()})
    assert os.listdir(tmp_path) == []



def test_checkpoint_has_ordinary_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        save_checkpoint(tmp_path / "ck", tiny_model())
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "ck").st_mode) == 0o755
    assert {stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "ck").iterdir()} == {0o644}

class Crash(Exception):
    pass


def crash_on_call(monkeypatch, target, name, n):
    """Make `target.name` raise Crash on its n-th call (1-based); earlier calls work."""
    real, calls = getattr(target, name), []

    def fake(*args, **kw):
        calls.append(1)
        if len(calls) == n:
            raise Crash
        return real(*args, **kw)

    monkeypatch.setattr(target, name, fake)


# os.replace calls in a save: 3 files into the temp folder, then old -> .old, then temp -> checkpoint
@pytest.mark.parametrize("where", [("writer", 2), ("replace", 2), ("replace", 4), ("replace", 5)])
def test_interrupted_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch, where):
    model = tiny_model()
    save_checkpoint(tmp_path / "ck", model, epoch=1)
    before = weights(model)
    model[0].weight.data += 1.0
    kind, n = where
    with monkeypatch.context() as m:
        if kind == "writer":
            crash_on_call(m, model_file.st_numpy, "save", n)
        else:
            crash_on_call(m, os, "replace", n)
        with pytest.raises(Crash):
            save_checkpoint(tmp_path / "ck", model, epoch=2)
    assert not [p for p in os.listdir(tmp_path) if ".tmp" in p]
    fresh = tiny_model()
    assert load_checkpoint(tmp_path / "ck", fresh)["epoch"] == 1
    assert all(np.array_equal(a, b) for a, b in zip(weights(fresh), before))

    save_checkpoint(tmp_path / "ck", model, epoch=3)  # the next save completes and tidies up
    assert os.listdir(tmp_path) == ["ck"]
    assert load_checkpoint(tmp_path / "ck", fresh)["epoch"] == 3
