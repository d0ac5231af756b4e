"""`xpnet bench` / `python -m bench`: time xpnet's layers and models, next to PyTorch on the same machine.

Sections: `layers` (forward and backward passes of single layers), `roofline` (every
convolution of LeNet-5 and fashion_cnn by each algorithm, against its own GEMM), `blocks` (the same
convolutions in each block size the tuner may pick), `train` and `infer`
(whole-model throughput), `epoch` (a full 60,000-image LeNet-5 epoch) and `memory`
(peak memory while training, measured in child processes), `distributed` (one process against
one per core under mpiexec) and `scaling` (a ring-allreduce model of 2 to 64 workers). Every section runs on
each chosen backend; with PyTorch importable, its twin of the same model, with the
same weights, runs beside it (CPU, or CUDA on a GPU run). `run_sections(args)` runs
what the command line (xpnet/cli/bench.py) parsed.
"""
import importlib
import os
import sys

from .. import backend
from ..backend import registry
from . import blocks, distributed, layers, memory, profile, roofline, training
from .context import Context
from .machine import describe, matmul_peak
from .onnx_twin import onnxruntime
from .report import Section, add_speedup, header_table, render, render_section, save
from .timing import Timing, measure
from .twin import torch_twin

SECTIONS = ("layers", "roofline", "blocks", "train", "profile", "infer", "epoch", "memory", "distributed", "scaling")
QUICK_SECTIONS = ("layers", "train", "infer")


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


RUNNERS = {
    "layers": lambda ctx, args, header: layers.run(ctx, header.get(f"matmul_peak_{ctx.backend}_gflops")),
    "roofline": lambda ctx, args, header: roofline.run(ctx, header.get(f"matmul_peak_{ctx.backend}_gflops")),
    "blocks": lambda ctx, args, header: blocks.run(ctx),
    "train": lambda ctx, args, header: training.train(ctx, args.models, args.batch_sizes),
    "profile": lambda ctx, args, header: profile.run(ctx, args.models, args.batch_sizes),
    "infer": lambda ctx, args, header: training.infer(ctx, args.models, args.infer_batch_sizes),
    "epoch": lambda ctx, args, header: training.epoch(ctx, args.epochs),
    "memory": lambda ctx, args, header: memory.run(ctx, args.models, args.memory_steps),
    "distributed": lambda ctx, args, header: distributed.run(ctx, args.models, args.batch_sizes),
    "scaling": lambda ctx, args, header: distributed.scaling(ctx, args.models, args.batch_sizes),
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


def run_sections(args):
    """Run the sections `args.only` on the backends `args.backend` names and print (and save) their tables;
    `args` holds the settings `xpnet bench` parses. Returns the exit status."""
    backends = _backends(args.backend)
    torch = _torch(args)
    ort = onnxruntime(args.no_onnx) if "infer" in args.only else None
    saved_threads = torch.get_num_threads() if torch is not None else None
    try:
        if torch is not None:
            torch.set_num_threads(args.threads or os.cpu_count())
        header = _header(backends, torch, args)
        if ort is not None:
            header["onnxruntime"] = ort.__version__
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
                              args.settle, onnxruntime=ort)
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


__all__ = ["Context", "SECTIONS", "Section", "Timing", "describe", "matmul_peak", "measure", "run_sections",
           "torch_twin"]
