"""`xpnet compare activations | optimizers | models`: train every variant of an experiment, compare them.

Prints a table (final and best test accuracy, training seconds per epoch, images/s, test pass time,
parameters) and writes into the run folder (default runs/compare-<experiment>): summary.md,
summary.json, curves.png, times.png, and results/ with every (variant, seed)'s history. Rerun the
same command after an interruption and only what is missing trains.

Exit codes as `xpnet`: 0 success, 2 bad command line, 1 a failure while running, 130 interrupted.
"""
import argparse
import shlex
import sys
from pathlib import Path

from .. import backend
from ..compare import experiments, pictures, report, runner
from ..compare.folder import RunFolder, Settings
from ..data.datasets import DATASETS
from ..data.datasets import get as get_dataset
from ..models import MODELS
from ..train.recipes import OPTIMIZERS
from .options import add_backend, add_data, comma_list, natural_int, positive_int, use_backend

DEFAULT_EPOCHS = 3
EXAMPLES = """examples:
  xpnet compare activations --epochs 1 --subset 3000     a quick look (about a minute on a CPU)
  xpnet compare activations --model mlp --variants relu,sigmoid,tanh
  xpnet compare optimizers --sweep-lr adam:1e-4,3e-4,1e-3 --seeds 0,1,2
  xpnet compare models --dataset fashion-mnist --backend gpu"""


def _sweep(text):
    """"adam:1e-4,3e-4" -> ("adam", [0.0001, 0.0003])."""
    name, colon, rates = text.partition(":")
    try:
        values = [float(r) for r in rates.split(",")]
    except ValueError:
        values = []
    if not colon or not name or not values or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"expected OPTIMIZER:LR,LR,... with positive rates such as "
                                         f"adam:1e-4,3e-4,1e-3, got {text!r}")
    return name, values


def _common_options():
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--dataset", default="mnist", choices=DATASETS, help="data set (default mnist)")
    p.add_argument("--epochs", type=positive_int, default=DEFAULT_EPOCHS,
                   help=f"epochs per variant (default {DEFAULT_EPOCHS})")
    p.add_argument("--batch-size", type=positive_int, default=64, help="training batch size (default 64)")
    p.add_argument("--subset", type=positive_int, metavar="N",
                   help="train on the first N training images (default all)")
    p.add_argument("--test-subset", type=positive_int, metavar="N",
                   help="test on the first N test images (default all 10000)")
    p.add_argument("--seeds", type=comma_list(natural_int, "seeds (integers >= 0)", distinct=True), default=[0],
                   help="comma-separated seeds: each variant trains once per seed and the table shows mean ± std "
                        "(default 0)")
    add_backend(p)
    add_data(p)
    p.add_argument("--out", metavar="DIR", help="run folder (default runs/compare-<experiment>)")
    p.add_argument("--quiet", action="store_true", help="no progress bars or per-variant lines, just the table")
    p.add_argument("--no-pictures", action="store_true", help="write the table and JSON but not the PNGs (faster)")
    return p


def _rates():
    return ", ".join(f"{name} {lr:g}" for name, (_, lr, _) in OPTIMIZERS.items())


def add_parser(sub):
    p = sub.add_parser("compare", formatter_class=argparse.RawDescriptionHelpFormatter,
                       help="train the variants of an experiment (activations, optimizers, models) and compare them",
                       description=(
        "Train every variant of an experiment with the same data and settings, then print a table and write\n"
        "it (markdown, JSON) and pictures (curves, time per epoch) into the run folder. A rerun with the same\n"
        "folder skips the finished variants. `xpnet compare EXPERIMENT --help` lists its options."),
                       epilog=EXAMPLES)
    sub = p.add_subparsers(dest="experiment", metavar="EXPERIMENT", required=True)
    common = _common_options()
    for name, (defaults, text) in experiments.EXPERIMENTS.items():
        e = sub.add_parser(name, parents=[common], help=text, description=f"Compare {text}.")
        e.add_argument("--variants", type=comma_list(str, "names"), default=list(defaults), help="comma-separated (default all: "
                       + ", ".join(defaults) + ")" + ("; any activation spec works, such as leaky_relu:0.1"
                                                     if name == "activations" else ""))
        if name != "models":
            e.add_argument("--model", default="lenet5", choices=MODELS, help="the model to train (default lenet5)")
        if name != "optimizers":
            e.add_argument("--optimizer", default="adam", choices=OPTIMIZERS, help="(default adam)")
            e.add_argument("--lr", type=float, help="learning rate (default: the optimizer's: " + _rates() + ")")
        else:
            rates = e.add_mutually_exclusive_group()
            rates.add_argument("--lr", type=float, help="one learning rate for every optimizer (default: each "
                               "its own: " + _rates() + ")")
            rates.add_argument("--sweep-lr", type=_sweep, action="append", metavar="OPT:LR,LR,...",
                               help="instead of --variants, train optimizer OPT at each rate listed, e.g. "
                                    "adam:1e-4,3e-4,1e-3 (repeatable)")
    return p


def variants_of(args):
    """The variants the parsed command line asks for (ValueError for unknown names)."""
    if args.experiment == "activations":
        found = experiments.activations(args.variants, args.model, args.optimizer, args.lr)
    elif args.experiment == "optimizers":
        found = experiments.optimizers(args.variants, args.model, args.lr, dict(args.sweep_lr or ()))
    else:
        found = experiments.models(args.variants, args.optimizer, args.lr)
    return experiments.check_unique(found)


def title_of(args, variants):
    """What was compared, on what: the heading of the table and the pictures."""
    first = variants[0]
    optimizer = f"{first.optimizer} lr {first.optimizer_kwargs['lr']:g}"
    data = get_dataset(args.dataset).title
    if args.experiment == "activations":
        return f"Activations: {first.model}, {optimizer}, {data}"
    if args.experiment == "optimizers":
        return f"Optimizers: {first.model}, {data}"
    return f"Models: {optimizer}, {data}"


def _draw(folder, results, rows, title):
    """curves.png and times.png; the file names, or none without matplotlib (the run still succeeds)."""
    try:
        pictures.plot_curves(results, folder / "curves.png", title)
        pictures.plot_times(rows, folder / "times.png", title)
    except ImportError as exc:
        print(f"xpnet compare: no pictures: {exc}", file=sys.stderr)
        return []
    return ["curves.png", "times.png"]


def compare(args, variants, command):
    """Run the comparison the parsed command line asks for; returns the summary rows."""
    settings = Settings(args.experiment, args.dataset, args.epochs, args.batch_size, args.subset, args.test_subset,
                        backend.current())
    out = args.out
    folder = RunFolder(out, settings)
    verbose = not args.quiet
    if verbose:
        finished = sum(folder.result_path(v, s).is_file() for v in variants for s in args.seeds)
        print(f"xpnet compare {args.experiment}: {len(variants)} variant(s) x {len(args.seeds)} seed(s) into {out}"
              + (f" ({finished} finished earlier)" if finished else ""), flush=True)
    data = runner.load_data(args.dataset, args.subset, args.test_subset, args.data)
    results = runner.run(variants, args.seeds, settings, data, folder, verbose)
    rows = report.summarize(results)
    title = title_of(args, variants)
    names = [] if args.no_pictures else _draw(out, results, rows, title)
    paths = report.save(out, title, command, settings, args.seeds, variants, rows, backend.info(), names)
    print(f"\n{title}: {report.describe(settings, args.seeds, rows)}\n\n{report.table(rows)}\n")
    print(f"wrote {', '.join(str(p) for p in paths + [out / n for n in names])}")
    return rows


def run(args):
    try:
        variants = variants_of(args)
    except ValueError as exc:
        print(f"xpnet compare {args.experiment}: error: {exc}", file=sys.stderr)
        return 2
    out = args.out = Path(args.out or Path("runs") / f"compare-{args.experiment}")
    use_backend(args)
    backend.keep_freed_memory()
    try:
        compare(args, variants, shlex.join(["xpnet", "compare", *args.argv]))
    except KeyboardInterrupt:
        print(f"xpnet compare: interrupted; the finished variants are kept in {out}: rerun the same "
              f"command to go on", file=sys.stderr)
        return 130
    return 0
