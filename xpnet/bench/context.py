"""`Context`: one backend's benchmark settings, and timing of xpnet and its PyTorch twin on that backend."""
from dataclasses import dataclass

from ..backend import synchronize, to_numpy
from .timing import measure


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

    @property
    def device(self):
        """The torch device that matches the xpnet backend."""
        return "cuda" if self.backend == "gpu" else "cpu"

    def time_xpnet(self, fn, setup=None, **kwargs):
        return self._measure(fn, synchronize, setup, kwargs)

    def time_torch(self, fn, setup=None, **kwargs):
        sync = self.torch.cuda.synchronize if self.device == "cuda" else (lambda: None)
        return self._measure(fn, sync, setup, kwargs)

    def _measure(self, fn, sync, setup, kwargs):
        options = {"repeat": self.repeat, "warmup": self.warmup, "min_time": self.min_time, **kwargs}
        return measure(fn, sync=sync, setup=setup, **options)

    def tensor(self, a):
        """A backend array (or host array) as a torch tensor on this backend's device."""
        return self.torch.from_numpy(to_numpy(a).copy()).to(self.device)


def fields(t, prefix, unit="ms"):
    """Row fields `<prefix><unit>`, `<prefix>min_<unit>`, `<prefix>max_<unit>` from a Timing (None: None values)."""
    scale = {"ms": 1e3, "s": 1.0}[unit]
    values = (None,) * 3 if t is None else (t.median * scale, t.min * scale, t.max * scale)
    return dict(zip((f"{prefix}{unit}", f"{prefix}min_{unit}", f"{prefix}max_{unit}"), values))


def ratio(xpnet_time, torch_time):
    """xpnet time / PyTorch time (> 1: xpnet is slower), or None without a PyTorch time."""
    return None if torch_time is None else xpnet_time.median / torch_time.median
