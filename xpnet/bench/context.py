"""`Context`: one backend's benchmark settings, and timing of xpnet and its PyTorch twin on that backend."""
import statistics
from dataclasses import dataclass

from ..backend import synchronize, to_numpy
from .timing import Timed, measure_side_by_side


@dataclass
class Context:
    """Settings shared by the sections while they run on `backend` ("cpu" or "gpu").

    `torch` is the torch module, or None when PyTorch is absent, was switched off,
    or cannot run on this backend (no CUDA build on a GPU run). `min_time` makes
    each timed repetition last at least that many seconds (see `timing.measure`).
    """

    backend: str
    torch: object = None
    repeat: int = 5
    warmup: int = 1
    min_time: float = 0.2
    quick: bool = False
    threads: int = None   # --threads, passed on to child processes (None: all cores)
    settle: float = 0.0   # seconds of pause before each library's timed run when xpnet and PyTorch alternate
    onnxruntime: object = None  # the onnxruntime module for the inference section's column, or None

    @property
    def device(self):
        """The torch device that matches the xpnet backend."""
        return "cuda" if self.backend == "gpu" else "cpu"

    @property
    def torch_sync(self):
        """A function that waits for PyTorch's queued work on this backend's device (none to wait for on the CPU)."""
        return self.torch.cuda.synchronize if self.device == "cuda" else (lambda: None)

    def time(self, xpnet_fn, torch_fn=None, xpnet_setup=None, torch_setup=None, **kwargs):
        """(xpnet Timing, PyTorch Timing or None): both timed side by side, repetitions alternating."""
        torch_job = None if torch_fn is None else Timed(torch_fn, self.torch_sync, torch_setup)
        return tuple(self.time_all([Timed(xpnet_fn, synchronize, xpnet_setup), torch_job], **kwargs))

    def time_all(self, jobs, **kwargs):
        """A Timing per `Timed` in `jobs` (None for None), all timed side by side, repetitions alternating."""
        options = {"repeat": self.repeat, "warmup": self.warmup, "min_time": self.min_time, "settle": self.settle,
                   **kwargs}
        timings = iter(measure_side_by_side([j for j in jobs if j is not None], **options))
        return [None if j is None else next(timings) for j in jobs]

    def tensor(self, a):
        """A backend array (or host array) as a torch tensor on this backend's device."""
        return self.torch.from_numpy(to_numpy(a).copy()).to(self.device)


def fields(t, prefix, unit="ms"):
    """Row fields `<prefix><unit>`, `<prefix>min_<unit>`, `<prefix>max_<unit>` from a Timing (None: None values)."""
    scale = {"ms": 1e3, "s": 1.0}[unit]
    values = (None,) * 3 if t is None else (t.median * scale, t.min * scale, t.max * scale)
    return dict(zip((f"{prefix}{unit}", f"{prefix}min_{unit}", f"{prefix}max_{unit}"), values))


def ratio(xpnet_time, torch_time):
    """xpnet time / PyTorch time (> 1: xpnet is slower), or None without a PyTorch time.

    Timed side by side, it is the median of the repetitions' own ratios: each pairs two runs made
    back to back, so a slow spell of the machine cancels out instead of landing on one side."""
    if torch_time is None:
        return None
    if xpnet_time.samples and len(xpnet_time.samples) == len(torch_time.samples):
        return statistics.median(a / b for a, b in zip(xpnet_time.samples, torch_time.samples))
    return xpnet_time.median / torch_time.median
