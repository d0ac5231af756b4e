"""Tables of the benchmark rows: what each section's columns are, rendering (github, plain, json) and saving."""
import json
import platform
import re
from dataclasses import dataclass, field
from pathlib import Path

from tabulate import tabulate

from ..backend import ops
from ..io import atomic_write

_XPNET = [("xpnet_ms", "xpnet ms"), ("xpnet_min_ms", "min"), ("xpnet_max_ms", "max")]
_TAIL = [("ratio", "xpnet/torch"), ("gpu_speedup", "GPU/CPU")]
_IMAGES = [("xpnet_images_per_s", "img/s")]

COLUMNS = {
    "layers": [("backend", "backend"), ("case", "layer"), ("input", "input"), ("pass", "pass"), *_XPNET,
               ("xpnet_gflops", "GFLOP/s"), ("xpnet_peak_pct", "% peak"), ("torch_ms", "torch ms"),
               ("torch_gflops", "torch GFLOP/s"), *_TAIL],
    "roofline": [("backend", "backend"), ("case", "convolution"), ("algorithm", "algorithm"), ("chosen", "chosen"),
                 ("fwd_ms", "fwd ms"), ("fwd_gflops", "fwd GFLOP/s"), ("gemm_fwd_gflops", "GEMM GFLOP/s"),
                 ("fwd_of_gemm_pct", "% of GEMM"), ("torch_fwd_gflops", "torch GFLOP/s"), ("fwd_ratio", "xpnet/torch"),
                 ("bwd_ms", "bwd ms"), ("bwd_gflops", "bwd GFLOP/s"), ("gemm_bwd_gflops", "GEMM GFLOP/s"),
                 ("bwd_of_gemm_pct", "% of GEMM"), ("torch_bwd_gflops", "torch GFLOP/s"), ("bwd_ratio", "xpnet/torch"),
                 ("peak_gflops", "sgemm peak")],
    "blocks": [("backend", "backend"), ("case", "convolution"), ("algorithm", "algorithm"), ("blocks", "blocks"),
               ("ms", "fwd+bwd ms"), ("min_ms", "min"), ("max_ms", "max"), ("of_default", "/ default size")],
    "train": [("backend", "backend"), ("model", "model"), ("batch", "batch"), *_XPNET, *_IMAGES,
              ("xpnet_epoch_s", "s/epoch"), ("torch_ms", "torch ms"), ("torch_images_per_s", "torch img/s"),
              ("torch_epoch_s", "torch s/epoch"), *_TAIL, ("algorithms", "convolutions ran")],
    "profile": [("backend", "backend"), ("model", "model"), ("batch", "batch"), ("layer", "layer"),
                ("algorithm", "algorithm"), ("xpnet_fwd_ms", "xpnet fwd ms"), ("xpnet_bwd_ms", "xpnet bwd ms"),
                ("torch_fwd_ms", "torch fwd ms"), ("torch_bwd_ms", "torch bwd ms"), ("xpnet_step_ms", "xpnet step ms"),
                ("torch_step_ms", "torch step ms"), ("ratio", "xpnet/torch")],
    "infer": [("backend", "backend"), ("model", "model"), ("batch", "batch"), *_XPNET, *_IMAGES,
              ("torch_ms", "torch ms"), ("torch_images_per_s", "torch img/s"), ("onnx_ms", "ORT ms"),
              ("onnx_images_per_s", "ORT img/s"), ("ratio", "xpnet/torch"), ("onnx_ratio", "xpnet/ORT"),
              ("fused_ms", "fused ms"), ("torch_fused_ms", "torch fused ms"), ("fused_torch_ratio", "fused/torch"),
              ("fused_ratio", "fused/torch fused"),
              ("gpu_speedup", "GPU/CPU"), ("algorithms", "convolutions ran")],
    "epoch": [("backend", "backend"), ("data", "data"), ("batch", "batch"), ("epochs", "epochs"),
              ("xpnet_s", "xpnet s/epoch"), ("xpnet_min_s", "min"), ("xpnet_max_s", "max"), *_IMAGES,
              ("torch_s", "torch s/epoch"), ("torch_min_s", "min"), ("torch_max_s", "max"),
              ("torch_images_per_s", "torch img/s"), *_TAIL],
    "memory": [("backend", "backend"), ("framework", "framework"), ("model", "model"), ("batch", "batch"),
               ("steps", "steps"), ("baseline_mib", "after setup MiB"), ("peak_mib", "peak RSS MiB"),
               ("training_mib", "training MiB"), ("gpu_pool_mib", "GPU pool MiB")],
    "distributed": [("backend", "backend"), ("model", "model"), ("batch", "batch"), ("processes", "processes"),
                    ("threads", "threads each"), ("xpnet_ms", "ms/step"), ("xpnet_min_ms", "min"),
                    ("xpnet_max_ms", "max"), *_IMAGES, ("allreduce_ms", "allreduce ms"),
                    ("allreduce_pct", "% of step"), ("buffer_kb", "gradients KiB"), ("sent_kb", "ring KiB sent"),
                    ("speedup", "vs 1 process")],
    "scaling": [("backend", "backend"), ("model", "model"), ("batch", "batch/worker"), ("xpnet_ms", "ms/step"),
                ("buffer_kb", "gradients KiB"), ("network", "network"),
                *[(f"eff_{n}", f"{n} workers %") for n in (2, 4, 8, 16, 32, 64)]],
}

TITLES = {
    "layers": ("Layer forward and backward passes",
               "Milliseconds per call (median of the repetitions, with min and max). GFLOP/s for convolutions "
               "and dense layers counts 2 x multiply-adds (backward: weight and input gradients); % peak compares "
               "it with the measured float32 matrix-product peak in the header. xpnet/torch is the median of the "
               "repetitions' paired time ratios (> 1: xpnet slower); GPU/CPU is xpnet's speed-up on the GPU over "
               "the CPU."),
    "roofline": ("Convolutions against the machine's GEMM (batch 128)",
                 "Every convolution of LeNet-5 and fashion_cnn, by each algorithm that applies (chosen: the one "
                 "Conv2D's tuner picked here; /1MiB: in blocks of that size where the tuner picked one other "
                 "than the default), timed side by side with a float32 matrix product of the "
                 "convolution's own im2col GEMM shapes (forward W·columns; backward dY·columnsᵀ and Wᵀ·dY) and "
                 "with PyTorch's convolution. GFLOP/s counts the direct convolution's 2·O·C·kh·kw·N·OH·OW per "
                 "pass (backward: weight and input gradients; the first layer has no input gradient), so "
                 "Winograd's is an effective rate; % of GEMM is the GEMM's time over the convolution's; sgemm "
                 "peak is the header's square-product rate."),
    "blocks": ("Convolutions in each block size (batch 128)",
               "Forward and backward of every convolution of LeNet-5 and fashion_cnn by each algorithm but "
               "Winograd's, in each block size that Conv2D's tuner times (`ops.block_sizes()`, the default "
               "first), side by side in one process: ms (median, min, max) and the median's ratio to the same "
               "algorithm's in blocks of the default size (< 1: faster)."),
    "train": ("Training throughput",
              "One Trainer-style step (zero_grad, forward, SoftmaxCrossEntropy, backward without the input "
              "gradient, Adam) on a fixed synthetic batch: ms per step, images/s, and seconds per 60,000-image "
              "MNIST epoch at that speed. PyTorch runs the same model with the same weights."),
    "profile": ("Where a training step goes, layer by layer",
                "Each layer's forward and backward inside the train section's step (ms, median of the steps), "
                "xpnet beside the same module of the PyTorch twin (its times from module hooks: a backward "
                "lasts from its own backward pre-hook to the next module's); xpnet/torch compares forward plus "
                "backward. The whole-step row includes the loss, the optimizer and the clocks' "
                "synchronisations."),
    "infer": ("Inference throughput",
              "Eval-mode forward pass (PyTorch under inference_mode): ms per batch (batch 1 is the latency) "
              "and images/s. ORT: the model exported by `xpnet export` under ONNX Runtime (CPU rows, same "
              "thread count), what deploying it would give; xpnet/ORT is the median paired time ratio. fused: "
              "for models with batch norms, the model with each folded into the convolution or dense layer "
              "before it (`xpnet.layers.fuse`), against PyTorch's model as it is (fused/torch) and PyTorch "
              "running the same folded weights (fused/torch fused); ORT folds them itself."),
    "epoch": ("Full epoch: LeNet-5, batch 128, Adam",
              "Seconds per shuffled pass over 60,000 images (median, min and max of the epochs), batches "
              "gathered from the whole data set held on the backend, as DataLoader does. Each epoch runs in 10 "
              "pieces of consecutive steps, xpnet's and PyTorch's in turn; xpnet/torch is the median of the "
              "pieces' paired ratios."),
    "memory": ("Peak memory while training (batch 128)",
               "One child process per framework. after setup: RSS after imports, model and batch; peak RSS: "
               "ru_maxrss at the end; training: their difference (activations, gradients, optimizer state, "
               "workspace). GPU pool: bytes held by CuPy's memory pool / torch.cuda.max_memory_reserved()."),
    "distributed": ("Data-parallel training on this machine",
                    "One process with every core against one process per core under mpiexec, each job in its own "
                    "processes, the two alternating. A step is DataParallel's (forward, backward, one packed "
                    "allreduce of the gradients, Adam) on a fixed synthetic global batch split over the processes: "
                    "ms/step is the slowest process's (median, min, max of the jobs); allreduce ms is the "
                    "processes' mean, waiting for the slower one included; ring KiB sent is what a ring allreduce "
                    "sends per process (2(N-1)/N of the buffer; MPI may pick another algorithm); vs 1 process is "
                    "the median of the paired step-time ratios."),
    "scaling": ("Predicted scaling efficiency (ring allreduce model)",
                "Weak scaling: every worker keeps this machine's one-process step (ms/step) at its own batch and "
                "the gradients follow backward in one ring allreduce, t = 2(N-1)/N * bytes / bandwidth + "
                "2(N-1) * latency, efficiency = step / (step + t). Bandwidth and latency per message: 10 Gbit/s "
                "Ethernet 1.25 GB/s, 50 us; 100 Gbit/s Ethernet 12.5 GB/s, 10 us; InfiniBand HDR 25 GB/s, 2 us; "
                "NVLink 150 GB/s, 10 us. Published for comparison: Horovod, 512 Pascal GPUs over 25 Gbit/s "
                "RoCE, 90% for Inception V3 and ResNet-101, 68% for VGG-16."),
}


@dataclass
class Section:
    """One table: its name (a key of COLUMNS), the rows, and what it means."""

    name: str
    rows: list = field(default_factory=list)

    @property
    def title(self):
        return TITLES[self.name][0]

    @property
    def note(self):
        return TITLES[self.name][1]

    def as_dict(self):
        return {"name": self.name, "title": self.title, "note": self.note, "rows": self.rows}


def add_speedup(rows):
    """Set "gpu_speedup" (xpnet's CPU time / GPU time) on GPU rows whose CPU twin row is present.

    Rows match on their identifying fields (the strings and integers other than the backend).
    """
    def key(row):
        return tuple((k, v) for k, v in row.items()
                     if k != "backend" and isinstance(v, (str, int)) and not isinstance(v, bool))

    def seconds(row):
        return row.get("xpnet_ms", row.get("xpnet_s"))

    cpu = {key(r): seconds(r) for r in rows if r["backend"] == "cpu"}
    for row in rows:
        if row["backend"] == "gpu" and cpu.get(key(row)) and seconds(row):
            row["gpu_speedup"] = cpu[key(row)] / seconds(row)
    return rows


def mib(nbytes):
    """A size in bytes as the tables show it: "4MiB", "0.25MiB"."""
    return f"{nbytes / 2 ** 20:g}MiB"


def block_label(algorithm, nbytes):
    """A convolution `algorithm`, with the size of its blocks (`nbytes`) where that is not the default:
    "im2col", "shifted/1MiB"."""
    return algorithm if nbytes in (None, ops.block_sizes()[0]) else f"{algorithm}/{mib(nbytes)}"


def _cell(v):
    if isinstance(v, float):
        return f"{v:.0f}" if abs(v) >= 100 else f"{v:.1f}" if abs(v) >= 10 else f"{v:.3g}"
    return "" if v is None else str(v)


def table(section, fmt="github"):
    """The section's rows as a table, without the columns that no row fills."""
    cols = [(k, h) for k, h in COLUMNS[section.name] if any(r.get(k) is not None for r in section.rows)]
    return tabulate([[_cell(r.get(k)) for k, _ in cols] for r in section.rows], [h for _, h in cols],
                    tablefmt=fmt, disable_numparse=True)


def header_table(header, fmt="github"):
    return tabulate([(k, _cell(v)) for k, v in header.items()], ["machine", ""], tablefmt=fmt,
                    disable_numparse=True)


def render_section(section, fmt):
    """Title, note and table of one section, in `fmt` ("github" gives markdown headings)."""
    title = f"## {section.title}" if fmt == "github" else f"{section.title}\n{'=' * len(section.title)}"
    return f"{title}\n\n{section.note}\n\n{table(section, fmt)}\n"


def render(header, sections, fmt):
    """The whole report: JSON text, or the machine header followed by every section's table."""
    if fmt == "json":
        return json.dumps({"machine": header, "sections": [s.as_dict() for s in sections]}, indent=2)
    top = "# xpnet benchmark\n\n" if fmt == "github" else ""
    return top + header_table(header, fmt) + "\n\n" + "\n".join(render_section(s, fmt) for s in sections)


def slug(text):
    """`text` as a file-name part: lower-case letters and digits joined by dashes."""
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-") or "unknown"


def result_stem(header):
    """<date>-<cpu|gpu>-<GPU name or short host name>, e.g. 2025-01-31-gpu-nvidia-h100-80gb-hbm3."""
    kind = "gpu" if "device" in header else "cpu"
    name = header.get("device") or (header.get("host") or platform.node()).split(".")[0]
    return f"{header['date']}-{kind}-{slug(name)}"


def save(header, sections, folder):
    """Write <folder>/<stem>.md (github tables) and .json atomically; returns both paths."""
    stem = Path(folder) / result_stem(header)
    paths = stem.with_suffix(".md"), stem.with_suffix(".json")
    for path, fmt in zip(paths, ("github", "json")):
        with atomic_write(path, "w") as f:
            f.write(render(header, sections, fmt) + "\n")
    return paths
