"""The summary of a comparison: one row per variant over its seeds, as a table, markdown and JSON.

Accuracies are on the test set, which is also each epoch's validation set: "best" is the epoch
whose mean test accuracy over the seeds was highest, the final accuracy the one after the last
epoch. Training time per epoch is the median over the epochs (the first one pays one-time costs)
of the training pass alone; the test pass is the timed evaluation after training.
"""
import statistics

from tabulate import tabulate

from ..io import atomic_write, write_json

HEADERS = ("variant", "test acc %", "best acc %", "best epoch", "train s/epoch", "train images/s", "test pass s",
           "parameters")


def _spread(values):
    """Sample standard deviation, 0 for a single value."""
    return statistics.stdev(values) if len(values) > 1 else 0.0


def _summary_row(name, results):
    """The row of one variant from its results (one per seed)."""
    curves = [[record["val_acc"] for record in r["history"]] for r in results]
    mean_curve = [statistics.fmean(accs) for accs in zip(*curves)]
    best = max(range(len(mean_curve)), key=mean_curve.__getitem__)
    train_s = [statistics.median(r["train_images"] / record["images_per_s"] for record in r["history"])
               for r in results]
    accuracy = [r["test_accuracy"] for r in results]
    test_s = [r["test_seconds"] for r in results]
    return {
        "variant": name, "seeds": [r["seed"] for r in results], "epochs": len(mean_curve),
        "test_accuracy": statistics.fmean(accuracy), "test_accuracy_std": _spread(accuracy),
        "test_accuracy_per_seed": accuracy,
        "best_accuracy": mean_curve[best], "best_epoch": best + 1,
        "train_seconds_per_epoch": statistics.fmean(train_s), "train_seconds_std": _spread(train_s),
        "images_per_s": statistics.fmean(r["train_images"] / s for r, s in zip(results, train_s)),
        "test_seconds": statistics.fmean(test_s), "test_seconds_std": _spread(test_s),
        "test_images_per_s": statistics.fmean(r["test_images"] / s for r, s in zip(results, test_s)),
        "parameters": results[0]["parameters"],
        "train_images": results[0]["train_images"], "test_images": results[0]["test_images"],
    }


def summarize(results):
    """One row per variant, in the order the variants first appear in `results`."""
    groups = {}
    for r in results:
        groups.setdefault(r["variant"]["name"], []).append(r)
    return [_summary_row(name, rs) for name, rs in groups.items()]


def _cells(row):
    acc = f"{100 * row['test_accuracy']:.2f}"
    if len(row["seeds"]) > 1:
        acc += f" ± {100 * row['test_accuracy_std']:.2f}"
    return [row["variant"], acc, f"{100 * row['best_accuracy']:.2f}", row["best_epoch"],
            f"{row['train_seconds_per_epoch']:.2f}", f"{row['images_per_s']:,.0f}", f"{row['test_seconds']:.2f}",
            f"{row['parameters']:,}"]


def table(rows, fmt="simple"):
    """The rows as a tabulate table (`fmt` "simple" for the terminal, "github" for markdown)."""
    return tabulate([_cells(r) for r in rows], HEADERS, tablefmt=fmt, disable_numparse=True,
                    colalign=("left",) + ("right",) * (len(HEADERS) - 1))


def describe(settings, seeds, rows):
    """One sentence of the settings, e.g. "3 epoch(s) on 60000 training images, batch 64, ..."."""
    return (f"{settings.epochs} epoch(s) on {rows[0]['train_images']} training images, batch {settings.batch_size}, "
            f"tested on {rows[0]['test_images']} test images, seed(s) {', '.join(map(str, seeds))}, "
            f"{settings.backend} backend")


def markdown(title, command, settings, seeds, rows, machine, pictures=()):
    """The summary as a markdown page: title, command, settings, machine, table and pictures (relative links)."""
    parts = [f"# {title}", f"```\n{command}\n```", describe(settings, seeds, rows) + ".",
             "Machine: " + ", ".join(f"{k} {v}" for k, v in machine.items()) + ".", table(rows, "github")]
    parts += [f"![{p}]({p})" for p in pictures]
    return "\n\n".join(parts) + "\n"


def save(folder, title, command, settings, seeds, variants, rows, machine, pictures=()):
    """Write summary.json and summary.md into `folder`; returns their paths."""
    json_path, md_path = folder / "summary.json", folder / "summary.md"
    write_json(json_path, {"title": title, "command": command, "settings": settings.as_dict(), "seeds": list(seeds),
                           "machine": machine, "variants": [v.as_dict() for v in variants], "rows": rows})
    with atomic_write(md_path, "w") as f:
        f.write(markdown(title, command, settings, seeds, rows, machine, pictures))
    return [json_path, md_path]
