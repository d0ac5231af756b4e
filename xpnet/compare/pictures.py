"""Pictures of a comparison: every variant's curves on shared axes, and the time per epoch as bars.

Drawn like `xpnet.plots` (an Agg Figure, never pyplot; PNGs written atomically); without matplotlib
the functions raise ImportError saying how to install it.
"""
from ..plots import figure, save

PANELS = [("train_loss", "training loss"), ("val_loss", "test loss"),
          ("train_acc", "training accuracy (%)"), ("val_acc", "test accuracy (%)")]
_PALETTE = 10  # colours in matplotlib's default cycle; later variants reuse them with dashed lines


def _style(i):
    return {"color": f"C{i % _PALETTE}", "linestyle": "-" if i < _PALETTE else "--"}


def _curves(results):
    """{variant name: {column: [per-seed lists of per-epoch values]}}, variants in first-seen order."""
    curves = {}
    for r in results:
        columns = curves.setdefault(r["variant"]["name"], {key: [] for key, _ in PANELS})
        for key, _ in PANELS:
            scale = 100 if key.endswith("acc") else 1
            columns[key].append([scale * record[key] for record in r["history"]])
    return curves


def plot_curves(results, path, title):
    """Loss and accuracy per epoch, training and test, one line per variant (the mean over its seeds, with
    the range of the seeds shaded). Returns `path`."""
    fig = figure(figsize=(11, 7.5), layout="constrained")
    fig.suptitle(title)
    axes = fig.subplots(2, 2, sharex=True).ravel()
    for i, (name, columns) in enumerate(_curves(results).items()):
        for ax, (key, _) in zip(axes, PANELS):
            per_seed = columns[key]
            epochs = range(1, len(per_seed[0]) + 1)
            by_epoch = list(zip(*per_seed))
            ax.plot(epochs, [sum(v) / len(v) for v in by_epoch], marker="o", markersize=3, label=name, **_style(i))
            if len(per_seed) > 1:
                ax.fill_between(epochs, [min(v) for v in by_epoch], [max(v) for v in by_epoch],
                                color=_style(i)["color"], alpha=0.15, linewidth=0)
    for ax, (_, label) in zip(axes, PANELS):
        ax.set_title(label)
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    for ax in axes[2:]:
        ax.set_xlabel("epoch")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center")
    return save(fig, path)


def plot_times(rows, path, title):
    """Seconds per epoch of each variant as horizontal bars: the training pass, then the test pass. Returns
    `path`."""
    names = [r["variant"] for r in rows]
    train = [r["train_seconds_per_epoch"] for r in rows]
    test = [r["test_seconds"] for r in rows]
    fig = figure(figsize=(9, 1.2 + 0.45 * len(rows)), layout="constrained")
    ax = fig.subplots()
    ax.barh(names, train, xerr=[r["train_seconds_std"] for r in rows] if len(rows[0]["seeds"]) > 1 else None,
            color="C0", label="training pass")
    ax.barh(names, test, left=train, color="C1", label="test pass")
    for y, (a, b) in enumerate(zip(train, test)):
        ax.text(a + b, y, f" {a:.1f} + {b:.2f} s", va="center", fontsize=8)
    ax.invert_yaxis()
    ax.margins(x=0.2)
    ax.set(xlabel="seconds per epoch", title=title)
    ax.grid(axis="x", alpha=0.3)
    fig.legend(loc="outside lower center", ncols=2)
    return save(fig, path)
