"""The `xpnet` command: argument errors, info, and a tiny train -> eval -> resume run on made-up IDX files."""
import gzip
import json
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

from xpnet.cli import main


def write_idx(path, array):
    """An unsigned-byte IDX file, gzip-compressed: magic 0x0000 08 <ndim>, big-endian dims, then the bytes."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def tiny_mnist(tmp_path):
    """A folder holding mnist/ with 64 training and 40 test images: class k is a bright k-th row band."""
    folder = tmp_path / "data" / "mnist"
    folder.mkdir(parents=True)
    gen = np.random.default_rng(0)
    for prefix, n in (("train", 64), ("t10k", 40)):
        labels = gen.integers(0, 10, n)
        images = gen.integers(0, 60, (n, 28, 28))
        for i, k in enumerate(labels):
            images[i, 2 * k + 4: 2 * k + 7] = 255
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return tmp_path / "data"


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
    assert main(["train", "--data", str(tmp_path / "nothing"), "--out", str(tmp_path / "run"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("xpnet: error: ") and "Traceback" not in err


def test_delegated_command_gets_the_rest(monkeypatch):
    seen = []
    fake = type(sys)("xpnet.bench")
    fake.main = lambda argv: seen.append(argv) or 3
    monkeypatch.setitem(sys.modules, "xpnet.bench", fake)
    assert main(["bench", "--quick", "-n", "2"]) == 3
    assert seen == [["--quick", "-n", "2"]]


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
