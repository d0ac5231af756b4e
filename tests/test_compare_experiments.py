"""`xpnet compare`: each experiment end to end on tiny data, resuming, refusals, usage errors, the summary."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from xpnet.cli import main as xpnet_main
from xpnet.compare import EXPERIMENTS, activations, models, optimizers, pictures, report, runner
from xpnet.compare.folder import Settings
from xpnet.data import write_idx
from xpnet.layers import BatchNorm1D, Dropout, Tanh
from xpnet.optim import Adam
from xpnet.train.history import History
from xpnet.train.recipes import OPTIMIZERS

PNG = b"\x89PNG\r\n\x1a\n"


def main(argv):
    """`xpnet compare ARGV`'s exit status."""
    return xpnet_main(["compare", *argv])


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """A folder holding mnist/ with 64 training and 40 test images: class k has a bright band at row 2k + 4."""
    root = tmp_path_factory.mktemp("data")
    gen = np.random.default_rng(0)
    for prefix, n in (("train", 64), ("t10k", 40)):
        labels = gen.integers(0, 10, n).astype(np.uint8)
        images = gen.integers(0, 60, (n, 28, 28)).astype(np.uint8)
        for image, k in zip(images, labels):
            image[2 * k + 4: 2 * k + 7] = 255
        write_idx(root / "mnist" / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(root / "mnist" / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return root


def _args(data, out, *extra, pictures=False):
    return [*extra, "--epochs", "1", "--batch-size", "32", "--data", str(data), "--out", str(out), "--quiet",
            *(() if pictures else ("--no-pictures",))]


def _summary(out):
    return json.loads((out / "summary.json").read_text())


def _has_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.parametrize("experiment", list(EXPERIMENTS))
def test_each_experiment_compares_every_variant(experiment, tiny_data, tmp_path, capsys):
    out = tmp_path / "run"
    draw = experiment == "activations"  # drawing is the same for all three, and takes a second
    assert main(_args(tiny_data, out, experiment, pictures=draw)) == 0
    names = list(EXPERIMENTS[experiment][0])
    table = capsys.readouterr().out
    assert all(f"\n{name} " in table for name in names), table
    rows = _summary(out)["rows"]
    assert [r["variant"] for r in rows] == names
    assert all(0 <= r["test_accuracy"] <= 1 and r["train_seconds_per_epoch"] > 0 and r["parameters"] > 0
               for r in rows)
    assert len(list((out / "results").iterdir())) == len(names) and not (out / "partial").exists()
    markdown = (out / "summary.md").read_text()
    assert f"xpnet compare {experiment} --epochs 1" in markdown and "| variant" in markdown
    if draw and _has_matplotlib():
        for picture in ("curves.png", "times.png"):
            assert (out / picture).read_bytes()[:8] == PNG and f"]({picture})" in markdown


def test_real_data_subset_learns(data_root, tmp_path):
    out = tmp_path / "run"
    argv = ["models", "--variants", "mlp,simple_cnn", "--subset", "1000", "--test-subset", "500", "--epochs", "2",
            "--data", data_root, "--out", str(out), "--quiet", "--no-pictures"]
    assert main(argv) == 0
    rows = _summary(out)["rows"]
    assert [r["variant"] for r in rows] == ["mlp", "simple_cnn"]
    assert all(r["test_accuracy"] > 0.6 for r in rows), rows  # chance is 0.1
    result = json.loads((out / "results" / "mlp-seed0.json").read_text())
    assert (result["train_images"], result["test_images"], len(result["history"])) == (1000, 500, 2)


def test_sweep_names_each_rate(tiny_data, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(_args(tiny_data, out, "optimizers", "--sweep-lr", "adam:1e-3,0.01", "--backend", "cpu")) == 0
    assert json.loads((out / "settings.json").read_text())["backend"] == "cpu"
    assert [r["variant"] for r in _summary(out)["rows"]] == ["adam lr=0.001", "adam lr=0.01"]
    stored = [json.loads(p.read_text())["variant"] for p in sorted((out / "results").iterdir())]
    assert [v["optimizer_kwargs"]["lr"] for v in stored] == [0.001, 0.01]
    assert not list(out.glob("*.png"))  # --no-pictures


def test_rerun_trains_only_what_is_missing(tiny_data, tmp_path, monkeypatch):
    out = tmp_path / "run"
    assert main(_args(tiny_data, out, "activations", "--variants", "relu,tanh", "--model", "simple_cnn")) == 0
    before = {p.name: p.read_bytes() for p in (out / "results").iterdir()}
    trained = []
    original = runner.train_variant

    def counting(variant, seed, *args, **kwargs):
        trained.append((variant.name, seed))
        return original(variant, seed, *args, **kwargs)
    monkeypatch.setattr(runner, "train_variant", counting)
    argv = _args(tiny_data, out, "activations", "--variants", "relu,tanh,elu", "--model", "simple_cnn",
                 "--seeds", "0,1")
    assert main(argv) == 0
    assert trained == [("relu", 1), ("tanh", 1), ("elu", 0), ("elu", 1)]
    assert all((out / "results" / name).read_bytes() == data for name, data in before.items())
    rows = _summary(out)["rows"]
    assert [(r["variant"], r["seeds"]) for r in rows] == [("relu", [0, 1]), ("tanh", [0, 1]), ("elu", [0, 1])]


def test_a_seed_sets_the_weights_and_the_batch_order(tiny_data, tmp_path, monkeypatch):
    loader_seeds = []
    real_loader = runner.DataLoader

    def recording(*args, **kwargs):
        loader_seeds.append(kwargs.get("seed"))
        return real_loader(*args, **kwargs)
    monkeypatch.setattr(runner, "DataLoader", recording)
    argv = ["optimizers", "--variants", "sgd", "--model", "mlp", "--seeds", "0,1,7", "--batch-size", "64",
            "--data", str(tiny_data), "--out", str(tmp_path), "--quiet", "--no-pictures", "--epochs", "1"]
    assert main(argv) == 0
    assert loader_seeds == [0, None, 1, None, 7, None]  # the test loader does not shuffle
    # one batch of all 64 images: the first epoch's loss is that of the initial weights alone
    first = [json.loads((tmp_path / "results" / f"sgd-seed{s}.json").read_text())["history"][0]["train_loss"]
             for s in (0, 1, 7)]
    assert len(set(first)) == 3


def test_interrupted_variant_continues_from_its_last_epoch(tiny_data, tmp_path, monkeypatch):
    argv = ["optimizers", "--variants", "adam", "--model", "simple_cnn", "--epochs", "2", "--batch-size", "32",
            "--data", str(tiny_data), "--quiet", "--no-pictures"]
    assert main([*argv, "--out", str(tmp_path / "straight")]) == 0
    write_history = History.to_json

    def interrupt_after_first_epoch(self, path):
        write_history(self, path)
        raise KeyboardInterrupt
    monkeypatch.setattr(History, "to_json", interrupt_after_first_epoch)
    out = tmp_path / "interrupted"
    assert main([*argv, "--out", str(out)]) == 130
    partial = out / "partial" / "adam-seed0" / "history.json"
    assert not (out / "results").exists() and partial.is_file()
    first_epoch = json.loads(partial.read_text())
    monkeypatch.setattr(History, "to_json", write_history)
    assert main([*argv, "--out", str(out)]) == 0
    straight, resumed = (json.loads((tmp_path / d / "results" / "adam-seed0.json").read_text())
                         for d in ("straight", "interrupted"))
    assert resumed["history"][:1] == first_epoch  # kept, timings included, not trained again
    for key in ("train_loss", "val_loss", "val_acc"):
        assert [r[key] for r in resumed["history"]] == [r[key] for r in straight["history"]]
    assert resumed["test_accuracy"] == straight["test_accuracy"]
    assert not (out / "partial").exists()


def test_other_settings_are_refused(tiny_data, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(_args(tiny_data, out, "optimizers", "--variants", "sgd", "--model", "simple_cnn")) == 0
    capsys.readouterr()
    argv = _args(tiny_data, out, "optimizers", "--variants", "sgd", "--model", "simple_cnn")
    assert main([*argv, "--epochs", "2"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("xpnet compare: error: ") and "epochs 1 (asked for 2)" in err
    assert main([*argv, "--lr", "0.5"]) == 1
    err = capsys.readouterr().err
    assert "sgd-seed0.json was trained with" in err and "'lr': 0.1" in err and "'lr': 0.5" in err


@pytest.mark.parametrize("argv,message", [
    (["activations", "--variants", "relu,swish"], "unknown activation 'swish'"),
    (["activations", "--variants", "relu,relu"], "share the result file"),
    (["activations", "--model", "resnet"], "invalid choice: 'resnet'"),
    (["optimizers", "--variants", "sgd,lbfgs"], "unknown optimizer 'lbfgs': expected one of sgd, momentum"),
    (["optimizers", "--sweep-lr", "adam"], "expected OPTIMIZER:LR,LR,..."),
    (["optimizers", "--sweep-lr", "lbfgs:0.1"], "unknown optimizer 'lbfgs'"),
    (["optimizers", "--sweep-lr", "adam:1e-3", "--lr", "0.1"], "not allowed with argument"),
    (["models", "--variants", "resnet,mlp"], "unknown model(s) resnet: expected some of mlp, fc_net"),
    (["models", "--seeds", "0,x"], "'x' in '0,x': expected comma-separated seeds"),
    (["models", "--seeds", "1,1"], "expected distinct comma-separated values, got '1,1'"),
    (["models", "--subset", "0"], "expected a positive integer, got '0'"),
    (["transformers"], "invalid choice: 'transformers'"),
    ([], "EXPERIMENT"),
])
def test_usage_errors_exit_2_saying_what_is_expected(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_python_m_xpnet_compare():
    res = subprocess.run([sys.executable, "-m", "xpnet", "compare", "optimizers", "--help"], capture_output=True,
                         text=True, cwd=Path(__file__).resolve().parent.parent)
    assert res.returncode == 0 and "--sweep-lr" in res.stdout and "sgd 0.1, momentum 0.01" in res.stdout


def test_too_large_subset_is_a_one_line_error(tiny_data, tmp_path, capsys):
    assert main(_args(tiny_data, tmp_path / "run", "models", "--variants", "mlp", "--subset", "1000")) == 1
    assert capsys.readouterr().err == "xpnet compare: error: asked for 1000 training images, but mnist has 64\n"


def test_without_matplotlib_the_table_is_still_written(tiny_data, tmp_path, monkeypatch, capsys):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    out = tmp_path / "run"
    assert main(_args(tiny_data, out, "models", "--variants", "mlp", pictures=True)) == 0
    assert 'no pictures: pictures need matplotlib: pip install "xpnet[plot]"' in capsys.readouterr().err
    assert not list(out.glob("*.png")) and ".png" not in (out / "summary.md").read_text()


def _result(name, seed, val_acc, test_accuracy, images_per_s):
    history = [{"epoch": i + 1, "val_acc": a, "images_per_s": s} for i, (a, s) in enumerate(zip(val_acc, images_per_s))]
    return {"variant": {"name": name}, "seed": seed, "history": history, "test_accuracy": test_accuracy,
            "test_seconds": 0.5 + seed, "train_images": 100, "test_images": 50, "parameters": 1234}


def test_summary_over_seeds():
    results = [_result("a", 0, [0.5, 0.9, 0.6], 0.8, [100, 50, 100]),
               _result("b", 0, [0.2, 0.3, 0.4], 0.4, [10, 10, 20]),
               _result("a", 1, [0.7, 0.7, 0.8], 0.9, [100, 50, 25])]
    a, b = report.summarize(results)
    assert (a["variant"], a["seeds"], b["variant"], b["seeds"]) == ("a", [0, 1], "b", [0])
    assert a["test_accuracy"] == pytest.approx(0.85) and a["test_accuracy_std"] == pytest.approx(0.0707107)
    assert (a["best_epoch"], a["best_accuracy"]) == (2, pytest.approx(0.8))  # the best of the mean curve
    assert a["train_seconds_per_epoch"] == pytest.approx(1.5)  # medians of 1, 2, 1 and 1, 2, 4 s
    assert a["test_seconds"] == 1.0 and a["test_images_per_s"] == pytest.approx((100 + 100 / 3) / 2)
    assert b["train_seconds_per_epoch"] == 10 and b["test_accuracy_std"] == 0
    text = report.table([a, b], "github")
    assert "| a " in text and "85.00 ± 7.07" in text and " 40.00 | " in text and "1,234" in text


def test_pictures_of_several_seeds(tmp_path):
    pytest.importorskip("matplotlib")
    results = [{**_result(name, seed, [0.5, 0.6 + seed / 10], 0.7, [10, 12]),
                "history": [{"epoch": e, "train_loss": 1 / e, "val_loss": 1.1 / e, "train_acc": 0.5 + e / 10,
                             "val_acc": 0.4 + e / 10 + seed / 20} for e in (1, 2)]}
               for name in ("a", "b") for seed in (0, 1)]
    rows = [{"variant": n, "seeds": [0, 1], "train_seconds_per_epoch": 2.0, "train_seconds_std": 0.1,
             "test_seconds": 0.5} for n in ("a", "b")]
    for path in (pictures.plot_curves(results, tmp_path / "c.png", "t"),
                 pictures.plot_times(rows, tmp_path / "t.png", "t")):
        assert open(path, "rb").read(8) == PNG


def test_markdown_page():
    settings = Settings("models", "mnist", 2, 64, subset=100)
    rows = report.summarize([_result("mlp", 0, [0.5, 0.6], 0.6, [10, 10])])
    page = report.markdown("Models", "xpnet compare models", settings, [0], rows, {"cpu": "AMD"}, ["curves.png"])
    assert page.startswith("# Models\n\n```\nxpnet compare models\n```\n")
    assert "2 epoch(s) on 100 training images, batch 64, tested on 50 test images, seed(s) 0, cpu backend." in page
    assert "Machine: cpu AMD." in page
    assert "| mlp " in page and page.endswith("![curves.png](curves.png)\n")


def test_sweep_variants_carry_their_rates():
    found = optimizers(sweep={"adam": [1e-4, 3e-4], "sgd": [0.05]}, model="mlp")
    assert [(v.name, v.optimizer, v.optimizer_kwargs["lr"], v.slug) for v in found] == [
        ("adam lr=0.0001", "Adam", 1e-4, "adam_lr_0.0001"), ("adam lr=0.0003", "Adam", 3e-4, "adam_lr_0.0003"),
        ("sgd lr=0.05", "SGD", 0.05, "sgd_lr_0.05")]


def test_variants_build_what_they_name():
    tanh, = activations(["tanh"], model="mlp")
    model, optimizer = tanh.build()
    assert sum(type(m) is Tanh for m in model.modules()) == 2 and type(optimizer) is Adam
    for variant in optimizers(model="mlp"):
        _, optimizer = variant.build()
        group = optimizer.param_groups[0]
        assert type(optimizer).__name__ == OPTIMIZERS[variant.name][0] and group["lr"] == OPTIMIZERS[variant.name][1]
        assert group.get("momentum", 0) == (0.9 if variant.name in ("momentum", "nesterov") else 0)
        assert group.get("nesterov", False) == (variant.name == "nesterov")
    fc_net, = models(["fc_net"], optimizer="sgd", lr=0.5)
    model, optimizer = fc_net.build()
    assert {BatchNorm1D, Dropout} <= {type(m) for m in model.modules()} and optimizer.param_groups[0]["lr"] == 0.5


@pytest.mark.parametrize("file,content,expected", [
    ("settings.json", "[1, 2]", "settings.json: expected a JSON object, got [1, 2]"),
    ("settings.json", "[" * 100000, "settings.json: not valid JSON"),
    ("results/sgd-seed0.json", '"done"', "sgd-seed0.json: expected a JSON object, got 'done'"),
    ("results/sgd-seed0.json", None, "sgd-seed0.json: not a finished result (test_accuracy missing"),
], ids=["settings-list", "settings-deep", "result-string", "result-incomplete"])
def test_stored_files_that_are_json_but_not_what_was_stored_are_one_line(tiny_data, tmp_path, capsys, file, content,
                                                                         expected):
    out = tmp_path / "run"
    argv = _args(tiny_data, out, "optimizers", "--variants", "sgd", "--model", "simple_cnn")
    assert main(argv) == 0
    capsys.readouterr()
    path = out / file
    if content is None:
        result = json.loads(path.read_text())
        del result["test_accuracy"]
        content = json.dumps(result)
    path.write_text(content)
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("xpnet compare: error: ") and expected in err and len(err.splitlines()) == 1, err
