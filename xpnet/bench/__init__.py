"""`xpnet bench` / `python -m bench`: time xpnet's layers and models, next to PyTorch on the same machine.

Sections: `layers` (forward and backward passes of single layers), `train` and `infer`
(whole-model throughput), `epoch` (a full 60,000-image LeNet-5 epoch) and `memory`
(peak memory while training, measured in child processes). Every section runs on
each chosen backend; with PyTorch importable, its twin of the same model, with the
same weights, runs beside it (CPU, or CUDA on a GPU run). `main(argv)` returns the
exit status.
"""
import argparse
import importlib
import os
import sys

from .. import backend
from ..cli import guarded, positive_int
from ..backend import registry
from . import layers, memory, training
from .child import run_bench
from .context import Context
from .machine import BLAS_THREAD_VARS, describe, matmul_peak
from .report import Section, add_speedup, header_table, render, render_section, save
from .timing import Timing, measure
from .twin import torch_twin

SECTIONS = ("layers", "train", "infer", "epoch", "memory")
QUICK_SECTIONS = ("layers", "train", "infer")


def parser():
    p = argparse.ArgumentParser(prog="xpnet bench", description=(
        "Time xpnet's layers, training and inference, and the same models in PyTorch (when importable) "
        "with the same weights, on this machine. See bench/README.md for what each table means."))
    p.add_argument("--quick", action="store_true",
                   help="2 repetitions, batch 128 only, no full epoch and no memory runs (under a minute)")
    p.add_argument("--only", action="append", choices=SECTIONS, metavar="SECTION",
                   help=f"run only this section (repeatable): {', '.join(SECTIONS)}")
    p.add_argument("--backend", default="auto", choices=("auto", "cpu", "gpu", "both"),
                   help="auto: the CPU, and the GPU too when CuPy finds one; both: CPU and GPU (default auto)")
    p.add_argument("--format", default="plain", choices=("github", "plain", "json"), help="output format")
    p.add_argument("--repeat", type=positive_int, help="timed repetitions per row (default 5, --quick 2)")
    p.add_argument("--warmup", type=int, default=1, help="untimed calls before the repetitions (default 1)")
    p.add_argument("--min-time", type=float,
                   help="seconds each repetition lasts at least; fast calls are repeated (default 0.2, --quick 0.02)")
    p.add_argument("--settle", type=float, default=0.2,
                   help="seconds to pause before each library's timed run when xpnet and PyTorch alternate, so the "
                        "other library's spinning worker threads go idle first (default 0.2)")
    p.add_argument("--models", type=_names, default=training.MODELS,
                   help=f"comma-separated models for train and infer (default {','.join(training.MODELS)})")
    p.add_argument("--batch-sizes", type=_sizes, help="training batch sizes (default 32,128,512; --quick 128)")
    p.add_argument("--infer-batch-sizes", type=_sizes, help="inference batch sizes (default 1,128,1024; --quick 1,128)")
    p.add_argument("--epochs", type=positive_int, help="epochs timed in the epoch section (default 3, --quick 1)")
    p.add_argument("--memory-steps", type=positive_int, default=20, help="training steps in each memory run")
    p.add_argument("--threads", type=positive_int,
                   help="threads for PyTorch and NumPy's BLAS (default: all cores); BLAS reads its thread count "
                        "when NumPy loads, so the benchmark then re-runs itself with OPENBLAS_NUM_THREADS etc. set")
    p.add_argument("--no-torch", action="store_true", help="leave out the PyTorch reference columns")
    p.add_argument("--save", action="store_true",
                   help="also write the tables (markdown) and JSON to <results-dir>/<date>-<cpu|gpu>-<name>.{md,json}")
    p.add_argument("--results-dir", default=os.path.join("bench", "results"),
                   help="folder for --save (default bench/results: run from the repository root)")
    p.add_argument("--memory-child", choices=("xpnet", "torch"), help=argparse.SUPPRESS)
    return p


def _sizes(text):
    return tuple(positive_int(t) for t in text.split(","))


def _names(text):
    from ..models import MODELS
    names = tuple(t.strip() for t in text.split(",") if t.strip())
    unknown = [n for n in names if n not in MODELS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown model(s) {', '.join(unknown)}: expected some of {', '.join(MODELS)}")
    return names


def _backends(choice):
    """The backends to run, in order; asking for the GPU explicitly fails loudly when there is none."""
    if choice == "cpu":
        return ["cpu"]
    try:
        registry.load("gpu")
    except RuntimeError:
        if choice == "auto":
            return ["cpu"]
        raise
    return ["gpu"] if choice == "gpu" else ["cpu", "gpu"]


def _torch(args):
    """The torch module, or None when switched off or not installed."""
    if args.no_torch:
        return None
    try:
        return importlib.import_module("torch")
    except ImportError:
        return None


def _settings(args):
    """Fill in the defaults that depend on --quick."""
    quick = args.quick
    args.repeat = args.repeat or (2 if quick else 5)
    args.min_time = args.min_time if args.min_time is not None else (0.02 if quick else 0.2)
    args.batch_sizes = args.batch_sizes or ((128,) if quick else (32, 128, 512))
    args.infer_batch_sizes = args.infer_batch_sizes or ((1, 128) if quick else (1, 128, 1024))
    args.epochs = args.epochs or (1 if quick else 3)
    args.only = args.only or (QUICK_SECTIONS if quick else SECTIONS)
    return args


RUNNERS = {
    "layers": lambda ctx, args, header: layers.run(ctx, header.get(f"matmul_peak_{ctx.backend}_gflops")),
    "train": lambda ctx, args, header: training.train(ctx, args.models, args.batch_sizes),
    "infer": lambda ctx, args, header: training.infer(ctx, args.models, args.infer_batch_sizes),
    "epoch": lambda ctx, args, header: training.epoch(ctx, args.epochs),
    "memory": lambda ctx, args, header: memory.run(ctx, args.models, args.memory_steps),
}


def _header(backends, torch, args):
    """describe() of every backend merged, the matrix-product peak of each, and the run settings."""
    header = {}
    for name in backends:
        with backend.using(name):
            header.update(describe(torch))
            header[f"matmul_peak_{name}_gflops"] = matmul_peak(1024 if args.quick else 2048, args.repeat)
    header["backend"] = ", ".join(backends)
    if torch is not None and "gpu" in backends and not torch.cuda.is_available():
        header["torch_cuda"] = "not available: no PyTorch columns on the GPU"
    header["repeat"], header["min_time_s"], header["settle_s"] = args.repeat, args.min_time, args.settle
    return header


def _run(args):
    backends = _backends(args.backend)
    torch = _torch(args)
    saved_threads = torch.get_num_threads() if torch is not None else None
    try:
        if torch is not None:
            torch.set_num_threads(args.threads or os.cpu_count())
        header = _header(backends, torch, args)
        text = args.format != "json"
        if text:
            print(("# xpnet benchmark\n\n" if args.format == "github" else "") + header_table(header, args.format),
                  end="\n\n", flush=True)
        sections = []
        for name in args.only:
            rows = []
            for b in backends:
                usable = torch if torch is not None and (b == "cpu" or torch.cuda.is_available()) else None
                ctx = Context(b, usable, args.repeat, args.warmup, args.min_time, args.quick, args.threads,
                              args.settle)
                print(f"xpnet bench: {name} on {b} ...", file=sys.stderr, flush=True)
                with backend.using(b), backend.default_dtype("float32"):
                    rows += RUNNERS[name](ctx, args, header)
            sections.append(Section(name, add_speedup(rows)))
            if text:
                print(render_section(sections[-1], args.format), flush=True)
        if not text:
            print(render(header, sections, "json"))
        if args.save:
            for path in save(header, sections, args.results_dir):
                print(f"xpnet bench: wrote {path}", file=sys.stderr)
        return 0
    finally:
        if saved_threads is not None:
            torch.set_num_threads(saved_threads)


def main(argv=None):
    """Run the benchmark with command line `argv` (default sys.argv[1:]); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    return guarded("xpnet bench", _main, argv)


def _main(argv):
    args = _settings(parser().parse_args(argv))
    if args.threads and any(os.environ.get(v) != str(args.threads) for v in BLAS_THREAD_VARS):
        return run_bench(argv, env={v: str(args.threads) for v in BLAS_THREAD_VARS}).returncode
    if args.memory_child:
        backend.use(args.backend if args.backend in ("cpu", "gpu") else "cpu")
        return memory.child(args.memory_child, args.models[0], args.memory_steps, threads=args.threads)
    return _run(args)


__all__ = ["Context", "SECTIONS", "Section", "Timing", "describe", "main", "matmul_peak", "measure", "torch_twin"]
