"""Whole-model throughput: training steps, inference batches, and full MNIST-sized epochs.

A training step is what `Trainer` does for one batch: zero the gradients, forward,
SoftmaxCrossEntropy, backward (with `model.needs_input_grad = False`) and an Adam
step; the PyTorch twin does the same with torch.optim.Adam and CrossEntropyLoss.
"""
import functools
import itertools

from .. import backend, environment
from ..backend import asarray, rng, synchronize, to_numpy
from ..data import DataLoader, prepare_images
from ..layers import fuse
from ..losses import SoftmaxCrossEntropy
from ..models import get_model
from ..optim import Adam
from .context import fields, ratio
from .onnx_twin import onnx_twin
from .report import block_label
from .timing import Timed, Timing
from .twin import torch_twin

EPOCH_IMAGES = 60000
MODELS = ("lenet5", "mlp", "fashion_cnn")
PIECES = 10  # an epoch is timed in this many runs of steps, in turn with PyTorch's (see `epoch`)


def batch(n, classes=10):
    """A synthetic standardised MNIST-shaped batch (x (n, 1, 28, 28) float32, y (n,) class indices) on the backend."""
    return (asarray(rng().standard_normal((n, 1, 28, 28)), "float32"),
            asarray(rng().integers(0, classes, n)))


def build(name, ctx=None):
    """(xpnet model, its PyTorch twin or None), seeded so every run starts from the same weights."""
    backend.seed(0)
    model = get_model(name)
    twin = torch_twin(model, ctx.device) if ctx is not None and ctx.torch is not None else None
    return model, twin


def xpnet_parts(model):
    """(loss, optimizer) of a Trainer-style step, `model` set up as the Trainer runs it: in training mode,
    its first layer computing no input gradient."""
    model.train()
    model.needs_input_grad = False
    return SoftmaxCrossEntropy(), Adam(model.parameters())


def xpnet_step(model):
    """`step(x, y)`: one Trainer-style Adam training step of `model`."""
    loss, optimizer = xpnet_parts(model)

    def step(x, y):
        optimizer.zero_grad()
        loss(model(x), y)
        model.backward(loss.backward())
        optimizer.step()
    return step


def torch_parts(torch, twin):
    """(loss, optimizer) of the same step for the PyTorch twin, set to training mode."""
    twin.train()
    return torch.nn.CrossEntropyLoss(), torch.optim.Adam(twin.parameters())


def torch_step(torch, twin):
    """`step(x, y)`: the same training step for the PyTorch twin."""
    loss, optimizer = torch_parts(torch, twin)

    def step(x, y):
        optimizer.zero_grad()
        loss(twin(x), y).backward()
        optimizer.step()
    return step


def conv_choice(conv):
    """The algorithm convolution `conv` ran last, with the size of its blocks where that is not the default:
    "im2col", "shifted/1MiB"."""
    return block_label(conv.algorithm, conv.block_bytes)


def conv_algorithms(model):
    """The algorithm each convolution of `model` ran last, in order (the tuner's picks), as one string."""
    return " ".join(conv_choice(m) for m in model.modules() if getattr(m, "algorithm", None))


def _throughput_row(ctx, n, t, tt, per_epoch=True):
    """Timing, images/s, seconds per 60,000 images (`per_epoch`) and the xpnet/PyTorch ratio at batch `n`."""
    row = {"backend": ctx.backend, "batch": n, **fields(t, "xpnet_"), "xpnet_images_per_s": n / t.median,
           **fields(tt, "torch_"), "torch_images_per_s": tt and n / tt.median, "ratio": ratio(t, tt)}
    if per_epoch:
        row.update(xpnet_epoch_s=EPOCH_IMAGES * t.median / n, torch_epoch_s=tt and EPOCH_IMAGES * tt.median / n)
    return row


def train(ctx, models=MODELS, batch_sizes=(32, 128, 512)):
    """Training-step throughput of each model at each batch size."""
    rows = []
    for name in models:
        for n in batch_sizes:
            model, twin = build(name, ctx)
            x, y = batch(n)
            step, torch_fn = xpnet_step(model), None
            if twin is not None:
                tstep, tx, ty = torch_step(ctx.torch, twin), ctx.tensor(x), ctx.tensor(y)
                torch_fn = functools.partial(tstep, tx, ty)
            t, tt = ctx.time(functools.partial(step, x, y), torch_fn)
            rows.append({"model": name, **_throughput_row(ctx, n, t, tt), "algorithms": conv_algorithms(model)})
    return rows


def infer(ctx, models=MODELS, batch_sizes=(1, 128, 1024)):
    """Eval-mode forward passes: latency at batch 1, throughput at larger batches; beside PyTorch and, on the
    CPU, the model exported to ONNX under ONNX Runtime. Where a model has batch norms to fold, also its
    fused form (`layers.fuse`), against PyTorch's model and PyTorch running the same fused model."""
    rows = []
    for name in models:
        model, twin = build(name, ctx)
        model.eval()
        if twin is not None:
            twin.eval()
        fused, torch_fused = fused_twins(ctx, model)
        deployed = None
        if ctx.onnxruntime is not None and ctx.backend == "cpu":
            deployed = onnx_twin(ctx.onnxruntime, model, (1, 1, 28, 28), ctx.threads)
        for n in batch_sizes:
            x, _ = batch(n)
            tx = None if twin is None else ctx.tensor(x)
            jobs = [Timed(lambda: model(x), synchronize), _torch_job(ctx, twin, tx),
                    None if deployed is None else Timed(functools.partial(deployed, to_numpy(x))),
                    None if fused is None else Timed(lambda: fused(x), synchronize), _torch_job(ctx, torch_fused, tx)]
            t, tt, to, tf, ttf = ctx.time_all(jobs)
            rows.append({"model": name, **_throughput_row(ctx, n, t, tt, per_epoch=False), **fields(to, "onnx_"),
                         "onnx_images_per_s": to and n / to.median, "onnx_ratio": ratio(t, to),
                         **fields(tf, "fused_"), **fields(ttf, "torch_fused_"),
                         "fused_torch_ratio": None if tf is None else ratio(tf, tt),
                         "fused_ratio": None if tf is None else ratio(tf, ttf), "algorithms": conv_algorithms(model)})
    return rows


def fused_twins(ctx, model):
    """(`layers.fuse(model)`, a PyTorch twin of it, holding the same folded weights): (None, None) where `model`
    has no batch norm to fold, the twin None without PyTorch."""
    fused = fuse(model)
    if len(fused.state_dict()) == len(model.state_dict()):  # a folded batch norm takes its state with it
        return None, None
    return fused, (torch_twin(fused, ctx.device) if ctx.torch is not None else None)


def _torch_job(ctx, module, tx):
    """A Timed eval-mode forward pass of the torch `module` on `tx` under inference_mode (None without one)."""
    if module is None:
        return None

    def forward():
        with ctx.torch.inference_mode():
            module(tx)
    return Timed(forward, ctx.torch_sync)


def mnist_train():
    """(x, y, what) for the epoch: MNIST's training set when XPNET_DATA holds it, else synthetic data of its shape."""
    if environment.data_dir():
        from ..data import load
        try:
            x, y = load("mnist", "train", download=False, progress=False)
            return x, y, "MNIST train (XPNET_DATA)"
        except (OSError, ValueError) as exc:
            print(f"xpnet bench: XPNET_DATA is set but MNIST could not be read ({exc}); using synthetic data")
    images = rng().integers(0, 256, (EPOCH_IMAGES, 28, 28), dtype="uint8")
    return prepare_images(images), rng().integers(0, 10, EPOCH_IMAGES), "synthetic, MNIST-shaped"


def epoch(ctx, epochs=3, batch_size=128, data=None, pieces=PIECES):
    """Seconds per shuffled epoch of LeNet-5 over the training set: median of `epochs` epochs per framework.

    Each epoch runs in `pieces` runs of consecutive steps, xpnet's and PyTorch's timed in turn, so that both
    meet the same moments of a machine whose speed drifts: the ratio is the median of the pieces' paired
    ratios, and an epoch's time the sum of its pieces."""
    x, y, what = data or mnist_train()
    model, twin = build("lenet5", ctx)
    step, loader = xpnet_step(model), DataLoader(x, y, batch_size, shuffle=True, seed=0)
    steps = -(-len(x) // batch_size)
    size = -(-steps // pieces)  # steps per piece; the last piece of an epoch may be shorter
    per_epoch = -(-steps // size)

    def xpnet_pieces():
        while True:
            batches = iter(loader)
            for _ in range(per_epoch):
                for xb, yb in itertools.islice(batches, size):
                    step(xb, yb)
                yield
    for _ in range(3):  # a few warm-up steps outside the clock
        step(asarray(x[:batch_size]), asarray(y[:batch_size]))
    jobs = [Timed(functools.partial(next, xpnet_pieces()), synchronize)]
    if twin is not None:
        torch = ctx.torch
        tstep, tx, ty = torch_step(torch, twin), ctx.tensor(x), ctx.tensor(y)
        gen = torch.Generator(device=ctx.device).manual_seed(0)

        def torch_pieces():
            while True:
                order = torch.randperm(len(tx), generator=gen, device=ctx.device)
                for first in range(0, steps, size):
                    for i in range(first, min(steps, first + size)):
                        rows = order[i * batch_size:(i + 1) * batch_size]
                        tstep(tx[rows], ty[rows])
                    yield
        for _ in range(3):
            tstep(tx[:batch_size], ty[:batch_size])
        jobs.append(Timed(functools.partial(next, torch_pieces()), ctx.torch_sync))
    ours, theirs = (ctx.time_all(jobs, repeat=epochs * per_epoch, warmup=0, min_time=None) + [None])[:2]
    t, tt = _epochs(ours, per_epoch), (theirs and _epochs(theirs, per_epoch))
    n = len(x)
    return [{"backend": ctx.backend, "data": what, "images": n, "batch": batch_size, "epochs": epochs,
             **fields(t, "xpnet_", "s"), "xpnet_images_per_s": n / t.median,
             **fields(tt, "torch_", "s"), "torch_images_per_s": tt and n / tt.median,
             "ratio": ratio(ours, theirs)}]


def _epochs(pieces, per_epoch):
    """A Timing of whole epochs from the Timing of their pieces, `per_epoch` pieces an epoch."""
    samples = pieces.samples
    return Timing.of([sum(samples[i:i + per_epoch]) for i in range(0, len(samples), per_epoch)])
