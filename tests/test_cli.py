"""The `xpnet` command: argument errors, info, and a tiny train -> eval -> resume run on made-up IDX files."""
import json
import os
import subprocess
import sys

import pytest

from xpnet.cli import main
from xpnet.train import read_metadata


@pytest.mark.parametrize("argv,names", [
    (["train", "--model", "bogus"], ["lenet5", "fashion_cnn"]),
    (["train", "--dataset", "cifar"], ["mnist", "fashion-mnist"]),
    (["train", "--optimizer", "lbfgs"], ["adam", "radam"]),
    (["train", "--backend", "tpu"], ["cpu", "gpu", "auto"]),
    (["train", "--epochs", "0"], ["positive"]),
    (["frobnicate"], ["train", "eval", "info"]),
    ([], ["COMMAND"]),
])
def test_usage_errors_exit_2_listing_valid_names(argv, names, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert all(name in err for name in names), err


def test_info(tiny_mnist, capsys):
    assert main(["info", "--data", str(tiny_mnist)]) == 0
    out = capsys.readouterr().out
    assert "backend" in out and "blas" in out
    assert str(tiny_mnist / "mnist") in out


def test_missing_data_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XPNET_OFFLINE", "1")
    monkeypatch.setenv("XPNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("XPNET_DATA", raising=False)
    (tmp_path / "nothing").mkdir()  # a folder without mnist/
    assert main(["train", "--data", str(tmp_path / "nothing"), "--out", str(tmp_path / "run"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("xpnet train: error: ") and "Traceback" not in err



@pytest.mark.parametrize("variable, value, command", [
    ("XPNET_NUM_THREADS", "-3", "eval"),  # was taken as 1
    ("XPNET_KEEP_MEMORY", "garbage", "train"),  # was ignored
    ("XPNET_OFFLINE", "maybe", "train"),  # was taken as online: a download
    ("XPNET_DATA", "no-such-folder", "info"),  # was passed over for the cache
])
def test_a_bad_variable_stops_the_command_in_one_line_naming_it(variable, value, command, tiny_mnist, tmp_path,
                                                                 monkeypatch, capsys):
    from xpnet.backend import threads
    from xpnet.data import download as downloads
    from xpnet.errors import shown
    from xpnet.models import get_model
    from xpnet.train import describe, save_weights
    monkeypatch.setattr(threads, "THREADS", None)  # XPNET_NUM_THREADS is read again on first use
    monkeypatch.setattr(downloads, "download", lambda *a, **k: pytest.fail("a download was tried"))
    monkeypatch.setenv("XPNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("XPNET_DATA", raising=False)
    monkeypatch.setenv(variable, value)
    model = tmp_path / "model.safetensors"
    save_weights(model, get_model("simple_cnn"), describe("simple_cnn", {}, "mnist"))
    (tmp_path / "nothing").mkdir()  # a folder without mnist/
    data = str(tmp_path / "nothing" if variable == "XPNET_OFFLINE" else tiny_mnist)
    argv = {"eval": ["eval", "--checkpoint", str(model), "--data", data], "info": ["info"],
            "train": ["train", "--model", "mlp", "--epochs", "1", "--out", str(tmp_path / "run"), "--quiet",
                      "--data", data]}[command]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"xpnet {command}: error: {variable} must be ") and shown(value) in err, err
    assert len(err.splitlines()) == 1

def test_every_command_is_one_parser_tree(capsys):
    for command in ("bench", "compare", "parity"):
        assert main([command, "--help"]) == 0
        assert f"usage: xpnet {command}" in capsys.readouterr().out
    assert main(["bench", "--only", "nothing"]) == 2
    assert "invalid choice: 'nothing'" in capsys.readouterr().err


def test_train_eval_resume(tiny_mnist, tmp_path, capsys):
    run = tmp_path / "run"
    common = ["--data", str(tiny_mnist), "--batch-size", "16", "--quiet"]
    assert main(["train", "--model", "simple_cnn", "--epochs", "1", "--out", str(run), "--seed", "3",
                 "--backend", "cpu", "--scheduler", "cosine", *common]) == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out and str(run) in out
    assert (run / "checkpoint" / "model.safetensors").is_file()
    history = json.loads((run / "history.json").read_text())
    assert len(history) == 1
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["epochs"] == 1 and metrics["backend"] == "cpu" and 0 <= metrics["test_accuracy"] <= 1
    assert json.loads((run / "config.json").read_text())["model"] == "simple_cnn"
    meta = read_metadata(run / "checkpoint" / "model.safetensors")
    assert (meta["model"], meta["model_kwargs"], meta["dataset"]) == ("simple_cnn", {}, "mnist")
    pytest.importorskip("matplotlib")
    for picture in ("curves.png", "predictions.png", "confusion.png"):
        assert os.path.getsize(run / picture) > 1000

    assert main(["eval", "--checkpoint", str(run), "--data", str(tiny_mnist)]) == 0
    out = capsys.readouterr().out
    assert "simple_cnn on mnist test" in out and f"{metrics['test_accuracy']:.2%}" in out

    assert main(["train", "--model", "simple_cnn", "--epochs", "2", "--out", str(run), "--seed", "3",
                 "--scheduler", "cosine", "--resume", *common]) == 0
    assert len(json.loads((run / "history.json").read_text())) == 2
    assert json.loads((run / "metrics.json").read_text())["epochs"] == 2


def test_the_models_recipe_fills_in_what_the_command_line_leaves_out(tiny_mnist, tmp_path, monkeypatch):
    from xpnet.train.recipes import DEFAULT_RECIPE, RECIPES
    monkeypatch.setattr("xpnet.plots.plot_run", lambda *args, **kwargs: [])
    runs = {"lenet5": [], "mlp": [], "given": ["--epochs", "1", "--shift", "1"]}
    for name, given in runs.items():
        model = "mlp" if name == "mlp" else "lenet5"
        assert main(["train", "--model", model, "--out", str(tmp_path / name), "--data", str(tiny_mnist),
                     "--batch-size", "32", "--quiet", *given]) == 0
    used = {name: json.loads((tmp_path / name / "config.json").read_text())["train_args"] for name in runs}
    recipe = {**DEFAULT_RECIPE, "batch_size": 32}  # the one option given
    assert {k: used["lenet5"][k] for k in recipe} == {**recipe, **RECIPES["lenet5"]} != recipe
    assert {k: used["mlp"][k] for k in recipe} == recipe
    assert (used["given"]["epochs"], used["given"]["shift"]) == (1, 1)
    assert len(json.loads((tmp_path / "lenet5" / "history.json").read_text())) == RECIPES["lenet5"]["epochs"]


def test_train_without_matplotlib_still_succeeds(tiny_mnist, tmp_path, monkeypatch, capsys):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    run = tmp_path / "run"
    assert main(["train", "--model", "mlp", "--epochs", "1", "--out", str(run), "--data", str(tiny_mnist),
                 "--optimizer", "sgd", "--lr", "0.01", "--quiet"]) == 0
    assert 'pip install "xpnet[plot]"' in capsys.readouterr().out
    assert (run / "metrics.json").is_file() and not (run / "curves.png").exists()


def test_resume_refuses_another_model(tiny_mnist, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"model": "mlp", "model_kwargs": {}, "dataset": "mnist"}))
    assert main(["train", "--model", "lenet5", "--resume", "--out", str(run), "--data", str(tiny_mnist)]) == 1
    assert "cannot resume" in capsys.readouterr().err


def test_python_dash_m_help():
    done = subprocess.run([sys.executable, "-m", "xpnet", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert all(cmd in done.stdout for cmd in ("train", "eval", "info", "parity", "bench"))


def _train(data, run, *extra):
    return main(["train", "--model", "simple_cnn", "--epochs", "1", "--out", str(run), "--data", str(data),
                 "--batch-size", "16", "--quiet", *extra])


def test_eval_needs_only_the_model_file(tiny_mnist, tmp_path, capsys):
    assert _train(tiny_mnist, tmp_path / "run", "--seed", "1") == 0
    accuracy = json.loads((tmp_path / "run" / "metrics.json").read_text())["test_accuracy"]
    alone = tmp_path / "elsewhere" / "mine.safetensors"
    alone.parent.mkdir()
    alone.write_bytes((tmp_path / "run" / "checkpoint" / "model.safetensors").read_bytes())
    capsys.readouterr()
    assert main(["eval", "--checkpoint", str(alone), "--data", str(tiny_mnist)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("simple_cnn on mnist test: loss") and f"accuracy {accuracy:.2%} (40 images)" in out


def test_checkpoint_without_metadata_uses_the_run_config_or_asks_for_model(tiny_mnist, tmp_path, capsys):
    from xpnet.models import get_model
    from xpnet.train import save_weights
    run = tmp_path / "old"
    save_weights(run / "checkpoint" / "model.safetensors", get_model("simple_cnn"))  # as before the metadata
    assert main(["eval", "--checkpoint", str(run), "--data", str(tiny_mnist)]) == 1
    err = capsys.readouterr().err
    assert "model.safetensors does not say which model it holds" in err and "pass --model" in err
    assert main(["eval", "--checkpoint", str(run), "--data", str(tiny_mnist), "--model", "simple_cnn"]) == 0
    (run / "config.json").write_text(json.dumps({"model": "simple_cnn", "model_kwargs": {}, "dataset": "mnist"}))
    assert main(["eval", "--checkpoint", str(run / "checkpoint" / "model.safetensors"),
                 "--data", str(tiny_mnist)]) == 0
    assert "simple_cnn on mnist test" in capsys.readouterr().out


@pytest.mark.parametrize("damage,expected", [
    ("missing", "does not exist (expected a .safetensors model file"),
    ("text", "not a safetensors file"),
    ("truncated", "truncated: its header lists"),
    ("short", "too short for a safetensors file"),
    ("folder", "no model.safetensors in this folder"),
])
@pytest.mark.parametrize("command", ["eval", "predict"])
def test_bad_model_files_are_named_with_what_was_expected(tiny_mnist, tmp_path, capsys, damage, expected, command):
    from xpnet.models import get_model
    from xpnet.train import describe, save_weights
    save_weights(tmp_path / "good.safetensors", get_model("simple_cnn"), describe("simple_cnn", {}, "mnist"))
    good = (tmp_path / "good.safetensors").read_bytes()
    given = tmp_path / "given.safetensors"
    if damage == "text":
        given.write_text("not weights at all\n" * 10)
    elif damage == "truncated":
        given.write_bytes(good[:-100])
    elif damage == "short":
        given.write_bytes(good[:5])
    elif damage == "folder":
        given.mkdir()
    args = ["--data", str(tiny_mnist)] if command == "eval" else [str(tmp_path / "picture.png")]
    assert main([command, "--checkpoint", str(given), *args]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"xpnet {command}: error: {given}") and expected in err, err
    assert "config.json" not in err and "Traceback" not in err and len(err.splitlines()) == 1


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_diverging_run_stops_with_one_line(tiny_mnist, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--model", "mlp", "--optimizer", "sgd", "--lr", "1e4", "--scheduler", "none",
                 "--out", str(run), "--data", str(tiny_mnist), "--batch-size", "8", "--quiet"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("xpnet train: error: training diverged: the loss became nan at step ")
    assert err[0].endswith("of epoch 1 (learning rate 1e+04); try a lower learning rate; "
                           "no checkpoint of this run was written")
    assert not (run / "checkpoint").exists() and not (run / "metrics.json").exists()


def test_an_allocation_too_large_is_one_line_and_other_bugs_keep_their_traceback(capsys):
    from xpnet.cli.options import guarded

    def allocate():
        raise MemoryError("Unable to allocate 5.7 TiB for an array with shape (1000000000, 784) and data type float64")

    assert guarded("xpnet train", allocate) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("xpnet train: error: out of memory (Unable to allocate 5.7 TiB")
    assert "--batch-size" in err

    def bug():
        raise TypeError("a bug in xpnet")

    with pytest.raises(TypeError):  # no blanket except: xpnet's own bugs are not hidden
        guarded("xpnet train", bug)


def _model_file(path, model="simple_cnn", dataset="mnist"):
    from xpnet.models import get_model
    from xpnet.train import describe, save_weights
    save_weights(path, get_model(model), describe(model, {}, dataset))
    return path


def test_a_batch_larger_than_the_data_set_is_refused_naming_both_sizes(tiny_mnist, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--model", "mlp", "--epochs", "1", "--batch-size", "65", "--out", str(run),
                 "--data", str(tiny_mnist), "--quiet"]) == 1
    assert capsys.readouterr().err == ("xpnet train: error: --batch-size 65: expected at most 64, the number of "
                                       "images in mnist's training set\n")
    assert not run.exists()
    evaluate = ["eval", "--checkpoint", str(_model_file(tmp_path / "model.safetensors")), "--data", str(tiny_mnist)]
    assert main([*evaluate, "--batch-size", "41"]) == 1
    assert capsys.readouterr().err == ("xpnet eval: error: --batch-size 41: expected at most 40, the number of "
                                       "images in mnist's test split\n")
    assert main([*evaluate, "--batch-size", "40"]) == 0 and main(evaluate) == 0  # default 1000: the whole split


@pytest.mark.parametrize("command", ["eval", "predict"])
def test_a_model_option_naming_another_model_than_the_file_is_blamed_on_the_option(command, tiny_mnist, tmp_path,
                                                                                  capsys):
    file = _model_file(tmp_path / "model.safetensors", "lenet5")
    args = ["--data", str(tiny_mnist)] if command == "eval" else [str(tmp_path / "picture.png")]
    assert main([command, "--checkpoint", str(file), "--model", "mlp", *args]) == 1
    assert capsys.readouterr().err == (f"xpnet {command}: error: {file} holds lenet5; --model mlp asks for another "
                                       "model: drop --model, or give a file that holds mlp\n")


def test_eval_on_another_data_set_than_the_files_warns_in_one_line(tiny_mnist, tmp_path, capsys):
    import shutil
    shutil.copytree(tiny_mnist / "mnist", tiny_mnist / "fashion-mnist")
    file = _model_file(tmp_path / "model.safetensors")
    assert main(["eval", "--checkpoint", str(file), "--data", str(tiny_mnist), "--dataset", "fashion-mnist"]) == 0
    captured = capsys.readouterr()
    assert captured.err == (f"xpnet eval: warning: {file} was trained on mnist; evaluating it on fashion-mnist as "
                            "--dataset asks\n")
    assert "simple_cnn on fashion-mnist test" in captured.out
    assert main(["eval", "--checkpoint", str(file), "--data", str(tiny_mnist), "--dataset", "mnist"]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("option, variable", [(["--backend", "gpu"], "cpu"), ([], "gpu")])
def test_info_without_a_gpu_still_reports_and_says_why(option, variable, tiny_mnist, monkeypatch, capsys):
    from xpnet.backend import registry
    from xpnet.errors import BackendError

    def no_gpu():
        raise BackendError("the gpu backend needs CuPy, which is not installed")

    monkeypatch.setattr(registry, "load_cupy", no_gpu)
    monkeypatch.setattr(registry.state, "requested", variable)  # as XPNET_BACKEND sets it
    monkeypatch.setattr(registry.state, "module", None)
    assert main(["info", "--data", str(tiny_mnist), *option]) == 1
    captured = capsys.readouterr()
    assert "gpu unavailable (the error below)" in captured.out and "numpy" in captured.out, captured.out
    assert str(tiny_mnist / "mnist") in captured.out
    assert captured.err == "xpnet info: error: the gpu backend needs CuPy, which is not installed\n"


def test_the_epoch_table_names_the_test_set_it_validates_on(tiny_mnist, tmp_path, monkeypatch, capsys):
    from xpnet.train import progress
    monkeypatch.setattr("xpnet.plots.plot_run", lambda *args, **kwargs: [])
    assert main(["train", "--model", "mlp", "--epochs", "1", "--out", str(tmp_path / "run"), "--data",
                 str(tiny_mnist), "--batch-size", "32"]) == 0
    header = capsys.readouterr().out.splitlines()[0].split()
    assert header[:9] == ["epoch", "train", "loss", "train", "acc", "test", "loss", "test", "acc"]
    assert "val loss" in progress.table([{"epoch": 1}])  # the Trainer's own name for its validation set, restored
