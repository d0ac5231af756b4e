"""`xpnet train --resume` means what it says: the run continues with its own settings, a conflicting option
is refused before anything is written, and a damaged or foreign state file is one line, never a traceback."""
import json
import os

import pytest

from xpnet.cli import main


def snapshot(run):
    """Every file of a run folder and its bytes."""
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


@pytest.fixture
def finished(tiny_mnist, tmp_path, capsys):
    """A finished 1-epoch simple_cnn run with Adam and a one-cycle schedule, and its train options."""
    run = tmp_path / "run"
    common = ["--model", "simple_cnn", "--out", str(run), "--data", str(tiny_mnist), "--batch-size", "16", "--quiet"]
    assert main(["train", *common, "--epochs", "1", "--optimizer", "adam", "--lr", "0.003",
                 "--scheduler", "onecycle"]) == 0
    capsys.readouterr()
    return run, common


def refused(argv, run, capsys, *expected):
    before = snapshot(run)
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("xpnet train: error: ") and len(err.splitlines()) == 1 and "Traceback" not in err, err
    for text in expected:
        assert text in err, err
    assert snapshot(run) == before  # config.json, checkpoint and history untouched


def test_options_that_conflict_with_the_run_are_refused(finished, capsys):
    run, common = finished
    refused(["train", *common, "--resume", "--optimizer", "sgd", "--lr", "0.5", "--scheduler", "none"], run, capsys,
            "only --epochs may change: --optimizer sgd (the run has 'adam'); --lr 0.5 (the run has 0.003); "
            "--scheduler none (the run has 'onecycle')")
    refused(["train", *common, "--resume", "--batch-size", "8"], run, capsys, "--batch-size 8 (the run has 16)")


def test_a_finished_one_cycle_run_is_not_stretched(finished, capsys):
    run, common = finished
    refused(["train", *common, "--resume", "--epochs", "2"], run, capsys,
            "one-cycle schedule over its 1 epoch, which cannot be stretched", "resume with --epochs 1")


def test_resume_repeating_the_settings_goes_on(tiny_mnist, tmp_path, capsys):
    run = tmp_path / "run"
    common = ["--model", "simple_cnn", "--out", str(run), "--data", str(tiny_mnist), "--quiet", "--batch-size", "16"]
    assert main(["train", *common, "--epochs", "1", "--optimizer", "sgd", "--scheduler", "step"]) == 0
    assert main(["train", *common, "--epochs", "2", "--resume", "--optimizer", "sgd"]) == 0
    config = json.loads((run / "config.json").read_text())["train_args"]
    assert (config["optimizer"], config["scheduler"], config["epochs"], config["lr"]) == ("sgd", "step", 2, 0.1)
    assert len(json.loads((run / "history.json").read_text())) == 2


def test_resume_without_a_run_says_so(tiny_mnist, tmp_path, capsys):
    assert main(["train", "--resume", "--out", str(tmp_path / "none"), "--data", str(tiny_mnist)]) == 1
    assert "holds no run to resume (no config.json)" in capsys.readouterr().err


@pytest.mark.parametrize("field,value,expected", [
    ("epoch", "one", "epoch 'one', expected an integer >= 0"),
    ("epoch", -3, "epoch -3, expected an integer >= 0"),
    ("history", {"a": 1}, "history {'a': 1}, expected a list"),
    ("files", [], "files [], expected the SHA-256"),
    ("optimizer", {"__array__": "nowhere", "scalar": False}, "its state refers to arrays"),
])
def test_a_bad_state_file_is_one_line_and_changes_nothing(finished, capsys, field, value, expected):
    run, common = finished
    state_file = run / "checkpoint" / "state.json"
    state = json.loads(state_file.read_text())
    state[field] = value
    state_file.write_text(json.dumps(state))
    refused(["train", *common, "--resume"], run, capsys, f"{state_file}: ", expected)


def test_a_state_file_that_is_not_an_object(finished, capsys):
    run, common = finished
    (run / "checkpoint" / "state.json").write_text("[" * 100000)
    refused(["train", *common, "--resume"], run, capsys, "not a valid xpnet checkpoint state file (not JSON")


def test_temporary_folders_of_a_killed_save_are_removed_by_the_next(finished, capsys):
    run, common = finished
    stale = run / ".checkpoint.0123456789ab.tmp"
    stale.mkdir()
    (stale / "model.safetensors").write_bytes(b"half")
    other = run / ".checkpoint.notours.tmp"
    other.mkdir()
    assert main(["train", *common, "--resume", "--epochs", "1"]) == 0  # nothing left to train: no save
    assert stale.is_dir()
    fresh = ["--epochs", "1", "--scheduler", "none", "--overwrite"]
    assert main(["train", *common[:-1], *fresh]) == 0  # a fresh run saves
    assert not stale.exists() and other.is_dir()
    assert sorted(os.listdir(run / "checkpoint")) == ["model.safetensors", "state.json", "training.safetensors"]


@pytest.mark.parametrize("key,value,why", [
    ("lr", -1, "expected a number from 0 to 1e+06, got '-1'"), ("lr", "0.1", "expected a number"),
    ("momentum", 2.0, "from 0 to 1"), ("batch_size", 0, "expected a positive integer"),
    ("batch_size", 16.5, "got '16.5'"), ("batch_size", True, "expected a number"),
    ("shift", 14, "expected an integer from 0 to 13"), ("seed", -1, "expected an integer >= 0"),
    ("optimizer", "bogus", "expected one of sgd, momentum"), ("scheduler", None, "expected one of none, cosine"),
    ("epochs", "3", "expected a number"), ("epochs", [1], "expected a number"), ("epochs", 2.5, "got '2.5'"),
    ("epochs", -5, "expected a positive integer"),
])
def test_a_recorded_option_the_command_line_would_refuse_is_refused(finished, capsys, key, value, why):
    """An edited config.json cannot hand --resume a value that `xpnet train` itself would not take; the error
    says what the command line expects."""
    run, common = finished
    config = json.loads((run / "config.json").read_text())
    config["train_args"][key] = value
    (run / "config.json").write_text(json.dumps(config))
    common = [a for a in common if a not in ("--batch-size", "16")]  # taken from the run
    refused(["train", *common, "--resume"], run, capsys, f"--{key.replace('_', '-')} recorded as {value!r}", why)


def test_recorded_options_the_command_line_takes_are_taken(finished, capsys):
    """None for a float option left out (no recipe default), and each type's own values, resume."""
    run, common = finished
    config = json.loads((run / "config.json").read_text())
    config["train_args"].update(momentum=None, weight_decay=0.0, shift=13, seed=0)
    (run / "config.json").write_text(json.dumps(config))
    common = [a for a in common if a not in ("--batch-size", "16")]
    assert main(["train", *common, "--resume"]) == 0


def test_a_new_run_refuses_a_folder_that_holds_one(finished, capsys):
    """Without --resume or --overwrite a new run would leave its config.json beside the old run's files."""
    run, common = finished
    common = ["mlp" if a == "simple_cnn" else a for a in common]
    refused(["train", *common, "--epochs", "1"], run, capsys,
            f"{run} already holds a run (config.json, checkpoint, history.json, metrics.json): --resume continues it, "
            "--overwrite replaces it")


def test_overwrite_leaves_nothing_of_the_old_run(finished, capsys):
    """A new run that fails before its first checkpoint leaves only its own config.json, no old checkpoint."""
    run, common = finished
    common = ["mlp" if a == "simple_cnn" else a for a in common]
    assert main(["train", *common, "--overwrite", "--optimizer", "sgd", "--lr", "1e4", "--scheduler", "none"]) == 1
    assert "training diverged" in capsys.readouterr().err
    assert os.listdir(run) == ["config.json"]
    assert json.loads((run / "config.json").read_text())["model"] == "mlp"
