"""Pictures of a training run: learning curves, sample predictions, confusion matrix.

matplotlib is an optional extra (`pip install "xpnet[plot]"`), imported only when
a picture is drawn. Figures are built with `matplotlib.figure.Figure` and the Agg
canvas directly, so drawing never touches pyplot's global state or the user's
interactive backend. Every PNG is written atomically (`xpnet.io`), so a crash
never leaves half a picture behind.
"""
import os

import numpy as host  # host-side arrays of labels and images for drawing

from .io import atomic_write

_INSTALL_HINT = 'pictures need matplotlib: pip install "xpnet[plot]"'


def figure(**kwargs):
    """A new Agg-backed Figure, or an ImportError that says how to get matplotlib."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(f"{_INSTALL_HINT} ({exc})") from exc
    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def save(fig, path):
    """Write `fig` as a PNG at `path` atomically; returns `path` as a string."""
    path = os.fspath(path)
    with atomic_write(path) as f:
        fig.savefig(f, format="png", dpi=100)
    return path


def _series(history, key):
    """The per-epoch values stored under `key` (History or dict), or None if absent or empty."""
    try:
        values = list(history[key])
    except (KeyError, TypeError):
        return None
    return values if any(v is not None for v in values) else None


def _names(class_names, count):
    return [str(c) for c in class_names] if class_names is not None else [str(i) for i in range(count)]


def plot_history(history, path, val_name="validation"):
    """Loss and accuracy against epoch, training and validation side by side, the validation set called
    `val_name` ("test" where the test set serves as one). Returns `path`."""
    fig = figure(figsize=(10, 4), layout="constrained")
    for ax, metric, title in zip(fig.subplots(1, 2), ("loss", "acc"), ("Loss", "Accuracy")):
        for split, style in (("train", "o-"), ("val", "s--")):
            values = _series(history, f"{split}_{metric}")
            if values is not None:
                epochs = range(1, len(values) + 1)
                ax.plot(epochs, [float("nan") if v is None else v for v in values], style,
                        label="training" if split == "train" else val_name)
        ax.set(title=title, xlabel="epoch")
        ax.grid(alpha=0.3)
        if ax.has_data():
            ax.legend()
    return save(fig, path)


def plot_predictions(images, labels, preds, path, class_names=None, columns=6):
    """A grid of images titled "predicted (true)"; misclassified ones in red. Returns `path`.

    `images` is (N, H, W) or (N, 1, H, W); `labels` and `preds` hold N class indices.
    """
    images = host.asarray(images)
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    labels, preds = host.asarray(labels).ravel(), host.asarray(preds).ravel()
    if images.ndim != 3 or not len(images) == len(labels) == len(preds):
        raise ValueError(f"plot_predictions expects images (N, H, W) or (N, 1, H, W) and N labels and preds, got "
                         f"images {images.shape}, labels {labels.shape}, preds {preds.shape}")
    names = _names(class_names, int(max(labels.max(initial=0), preds.max(initial=0))) + 1)
    columns = max(1, min(columns, len(images)))
    rows = max(1, -(-len(images) // columns))
    fig = figure(figsize=(1.8 * columns, 2.0 * rows), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    fig.suptitle("predicted (true); mistakes in red")
    for ax in axes:
        ax.axis("off")
    for ax, image, label, pred in zip(axes, images, labels, preds):
        ax.imshow(image, cmap="gray")
        wrong = label != pred
        ax.set_title(f"{names[pred]} ({names[label]})", fontsize=8, color="red" if wrong else "black")
    return save(fig, path)


def confusion_matrix(labels, preds, num_classes=None):
    """counts[i, j] = how many examples of true class i were predicted as class j."""
    labels, preds = host.asarray(labels).ravel().astype(host.int64), host.asarray(preds).ravel().astype(host.int64)
    if num_classes is None:
        num_classes = int(max(labels.max(initial=0), preds.max(initial=0))) + 1
    counts = host.zeros((num_classes, num_classes), dtype=host.int64)
    host.add.at(counts, (labels, preds), 1)
    return counts


def plot_confusion(labels, preds, path, class_names=None):
    """The confusion matrix with the count in each cell (rows true, columns predicted). Returns `path`."""
    counts = confusion_matrix(labels, preds, None if class_names is None else len(class_names))
    names = _names(class_names, len(counts))
    fig = figure(figsize=(1 + 0.6 * len(counts), 0.6 * len(counts)), layout="constrained")
    ax = fig.subplots()
    shown = ax.imshow(counts, cmap="Blues")
    fig.colorbar(shown, ax=ax)
    ticks = range(len(counts))
    ax.set_xticks(ticks, names, rotation=45, ha="right")
    ax.set_yticks(ticks, names)
    ax.set(xlabel="predicted", ylabel="true", title=f"Confusion matrix ({counts.trace()} / {counts.sum()} correct)")
    threshold = counts.max() / 2
    for (i, j), n in host.ndenumerate(counts):
        ax.text(j, i, str(n), ha="center", va="center", fontsize=7, color="white" if n > threshold else "black")
    return save(fig, path)


def example_indices(labels, preds, count=36):
    """Up to `count` sorted indices of test images to show: half of them mistakes (the interesting ones), the
    rest the first correct ones."""
    labels, preds = host.asarray(labels), host.asarray(preds)
    wrong = host.flatnonzero(labels != preds)[: count // 2]
    right = host.flatnonzero(labels == preds)[: count - len(wrong)]
    return host.sort(host.concatenate([wrong, right]))


def plot_run(folder, history, images, labels, preds, class_names=None, val_name="validation"):
    """A training run's pictures in `folder`: curves.png, predictions.png (sample test images) and
    confusion.png. Returns their paths."""
    pick = example_indices(labels, preds)
    return [plot_history(history, os.path.join(folder, "curves.png"), val_name),
            plot_predictions(images[pick], labels[pick], preds[pick], os.path.join(folder, "predictions.png"),
                             class_names=class_names),
            plot_confusion(labels, preds, os.path.join(folder, "confusion.png"), class_names=class_names)]
