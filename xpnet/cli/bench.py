"""`xpnet bench` (also `python -m bench`): time xpnet's layers and models next to PyTorch on this machine.

The sections and their tables are xpnet.bench's; this module reads the command line, fills in the
defaults that depend on --quick, and re-runs the benchmark in a child process where the BLAS thread
count must be set before NumPy loads.
"""
import argparse
import os

from .options import comma_list, finite_float, natural_int, positive_int


def add_parser(sub):
    from ..bench import SECTIONS, training
    from ..models import MODELS
    p = sub.add_parser("bench", help="time layers and training steps on this machine", description=(
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
    p.add_argument("--warmup", type=natural_int, default=1, help="untimed calls before the repetitions (default 1)")
    p.add_argument("--min-time", type=finite_float(0, 60, "seconds"),
                   help="seconds each repetition lasts at least; fast calls are repeated (default 0.2, --quick 0.02)")
    p.add_argument("--settle", type=finite_float(0, 60, "seconds"), default=0.2,
                   help="seconds to pause before each library's timed run when xpnet and PyTorch alternate, so the "
                        "other library's spinning worker threads go idle first (default 0.2)")
    p.add_argument("--models", type=comma_list(str, "model names", choices=tuple(MODELS)), default=training.MODELS,
                   help=f"comma-separated models for train and infer (default {','.join(training.MODELS)})")
    p.add_argument("--batch-sizes", type=comma_list(positive_int, "positive integers"),
                   help="training batch sizes (default 32,128,512; --quick 128)")
    p.add_argument("--infer-batch-sizes", type=comma_list(positive_int, "positive integers"),
                   help="inference batch sizes (default 1,128,1024; --quick 1,128)")
    p.add_argument("--epochs", type=positive_int, help="epochs timed in the epoch section (default 3, --quick 1)")
    p.add_argument("--memory-steps", type=positive_int, default=20, help="training steps in each memory run")
    p.add_argument("--threads", type=positive_int,
                   help="threads for PyTorch, NumPy's BLAS and xpnet's elementwise passes (default: all cores); "
                        "BLAS reads its thread count when NumPy loads, so the benchmark then re-runs itself with "
                        "XPNET_NUM_THREADS, OPENBLAS_NUM_THREADS etc. set")
    p.add_argument("--no-torch", action="store_true", help="leave out the PyTorch reference columns")
    p.add_argument("--no-onnx", action="store_true",
                   help="leave out the ONNX Runtime column of the inference section (also left out without onnx)")
    p.add_argument("--save", action="store_true",
                   help="also write the tables (markdown) and JSON to <results-dir>/<date>-<cpu|gpu>-<name>.{md,json}")
    p.add_argument("--results-dir", default=os.path.join("bench", "results"),
                   help="folder for --save (default bench/results: run from the repository root)")
    p.add_argument("--memory-child", choices=("xpnet", "torch"), help=argparse.SUPPRESS)
    p.add_argument("--distributed-child", choices=tuple(MODELS), help=argparse.SUPPRESS)
    return p


def _settings(args):
    """Fill in the defaults that depend on --quick."""
    from ..bench import QUICK_SECTIONS, SECTIONS
    quick = args.quick
    args.repeat = args.repeat or (2 if quick else 5)
    args.min_time = args.min_time if args.min_time is not None else (0.02 if quick else 0.2)
    args.batch_sizes = args.batch_sizes or ((128,) if quick else (32, 128, 512))
    args.infer_batch_sizes = args.infer_batch_sizes or ((1, 128) if quick else (1, 128, 1024))
    args.epochs = args.epochs or (1 if quick else 3)
    args.only = args.only or (QUICK_SECTIONS if quick else SECTIONS)
    args.models = tuple(args.models)
    return args


def run(args):
    from .. import backend
    from ..bench import distributed, memory, run_sections
    from ..bench.child import run_bench
    from ..environment import THREAD_VARIABLES

    args = _settings(args)
    backend.keep_freed_memory()
    if args.threads and any(os.environ.get(v) != str(args.threads) for v in THREAD_VARIABLES):
        return run_bench(args.argv, env={v: str(args.threads) for v in THREAD_VARIABLES}).returncode
    if args.memory_child:
        backend.use(args.backend if args.backend in ("cpu", "gpu") else "cpu")
        return memory.child(args.memory_child, args.models[0], args.memory_steps, threads=args.threads)
    if args.distributed_child:
        backend.use(args.backend if args.backend in ("cpu", "gpu") else "cpu")
        with backend.default_dtype("float32"):
            return distributed.child(args.distributed_child, args.batch_sizes[0], args.repeat, args.warmup,
                                     args.min_time)
    return run_sections(args)
