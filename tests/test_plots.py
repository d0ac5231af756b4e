"""Pictures: PNG files written (atomically), and a clear message without matplotlib."""
import os
import sys

import numpy as np
import pytest

from xpnet import plots
from xpnet.data.datasets import get

PNG = b"\x89PNG\r\n\x1a\n"


def _is_png(path):
    with open(path, "rb") as f:
        return f.read(8) == PNG and os.path.getsize(path) > 1000


@pytest.fixture
def mpl():
    return pytest.importorskip("matplotlib")


def test_plot_history(mpl, tmp_path):
    history = {"train_loss": [1.0, 0.5, 0.3], "val_loss": [0.9, 0.6, 0.4],
               "train_acc": [0.6, 0.8, 0.9], "val_acc": [0.7, 0.8, 0.85]}
    path = tmp_path / "sub" / "curves.png"
    assert plots.plot_history(history, path) == str(path)
    assert _is_png(path)


@pytest.mark.parametrize("val_name", [None, "test"])
def test_the_curves_name_the_set_they_validate_on(mpl, tmp_path, monkeypatch, val_name):
    drawn = []
    monkeypatch.setattr(plots, "save", lambda fig, path: drawn.append(fig) or str(path))
    history = {"train_loss": [1.0, 0.5], "val_loss": [0.9, 0.6], "train_acc": [0.6, 0.8], "val_acc": [0.7, 0.8]}
    plots.plot_history(history, tmp_path / "c.png", **({} if val_name is None else {"val_name": val_name}))
    legends = [[t.get_text() for t in ax.get_legend().get_texts()] for ax in drawn[0].axes]
    assert legends == [["training", val_name or "validation"]] * 2


def test_plot_history_without_validation(mpl, tmp_path):
    history = {"train_loss": [1.0, 0.5], "train_acc": [0.5, 0.7], "val_loss": [None, None]}
    assert _is_png(plots.plot_history(history, tmp_path / "curves.png"))


def test_plot_predictions(mpl, tmp_path, rng):
    images = rng.integers(0, 256, (7, 1, 28, 28), dtype=np.uint8)
    labels, preds = np.arange(7), np.array([0, 1, 2, 9, 4, 5, 0])
    path = plots.plot_predictions(images, labels, preds, tmp_path / "p.png",
                                  class_names=get("fashion-mnist").classes)
    assert _is_png(path)
    with pytest.raises(ValueError, match="plot_predictions"):
        plots.plot_predictions(images[:3], labels, preds, tmp_path / "bad.png")


def test_confusion_matrix_counts():
    counts = plots.confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], num_classes=4)
    assert counts.tolist() == [[1, 1, 0, 0], [0, 1, 0, 0], [1, 0, 2, 0], [0, 0, 0, 0]]


def test_plot_confusion(mpl, tmp_path, rng):
    labels = rng.integers(0, 10, 200)
    assert _is_png(plots.plot_confusion(labels, (labels + (rng.random(200) < 0.2)) % 10, tmp_path / "c.png"))


def test_failed_save_keeps_old_file_and_leaves_no_temp(mpl, tmp_path, monkeypatch):
    path = tmp_path / "curves.png"
    path.write_bytes(b"old")
    from matplotlib.figure import Figure

    def broken(self, *args, **kwargs):
        raise RuntimeError("disk full")
    monkeypatch.setattr(Figure, "savefig", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        plots.plot_history({"train_loss": [1.0]}, path)
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["curves.png"]


def test_missing_matplotlib_says_how_to_install(tmp_path, monkeypatch):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r'pip install "xpnet\[plot\]"'):
        plots.plot_history({"train_loss": [1.0]}, tmp_path / "c.png")
    assert not os.listdir(tmp_path)


def test_example_indices_show_mistakes_first_then_correct_ones():
    labels = np.array([0, 1, 2, 3, 4, 5, 6, 7])
    preds = np.array([0, 9, 2, 9, 4, 9, 6, 7])
    assert plots.example_indices(labels, preds, count=4).tolist() == [0, 1, 2, 3]  # mistakes 1, 3; correct 0, 2
    assert plots.example_indices(labels, labels, count=3).tolist() == [0, 1, 2]
