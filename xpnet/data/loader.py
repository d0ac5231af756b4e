"""Network input from raw images, and mini-batches of it.

`prepare_images` turns uint8 (N, H, W) images into float (N, 1, H, W) NCHW
input, scaled to [0, 1] and standardised, as torchvision's ToTensor+Normalize.

`DataLoader` places its arrays on the current backend once, when it is made:
on the GPU the whole prepared data set moves to device memory (MNIST in
float32 is about 190 MB) and each batch is a gather there, so iterating never
waits for host-to-device copies of data. The shuffle order comes from the
loader's own NumPy generator on the host, one permutation per epoch moved to
the backend in one copy, so a seed gives the same batches on CPU and GPU and
`state_dict()` lets a resumed run continue with the identical order.

`shift=s` turns on augmentation by random translation: every image of an epoch
is moved by its own whole-pixel offset, up to s rows and s columns each way,
the edge pixels repeating into the uncovered border (the background, for
digits). The epoch's offsets are drawn on the host with its permutation and
travel in the same copy; each batch is then one gather on the backend.

Data-parallel training: `rank` and `world_size` make the loader of one of several
processes. Every process draws the same permutation and offsets from the same seed and
takes its own contiguous part of each global batch of `batch_size` samples, so the
processes together train on exactly the batches one process would; the loader's state
is that of the global batches, the same on every process.
"""
import numpy as host  # host-side preparation and the shuffle generator; batches live on the backend

from .. import backend
from ..errors import is_int
from .datasets import get, load_dataset


def prepare_images(images, mean=None, std=None, dataset="mnist"):
    """uint8 images (N, H, W) or (N, 1, H, W) -> host array (N, 1, H, W) of the default float dtype.

    Pixels are scaled to [0, 1], then standardised as (x - mean) / std; `mean`
    and `std` default to the training-set constants of `dataset`.
    """
    images = backend.to_numpy(images)
    if images.dtype != host.uint8 or images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[1] != 1):
        raise ValueError(f"prepare_images: expected uint8 images of shape (N, H, W) or (N, 1, H, W), "
                         f"got {images.dtype} array of shape {images.shape}")
    ds = get(dataset)
    mean = ds.mean if mean is None else float(mean)
    std = ds.std if std is None else float(std)
    if not std > 0:
        raise ValueError(f"prepare_images: std must be positive, got {std}")
    x = images.reshape(len(images), 1, *images.shape[-2:]).astype(backend.get_default_dtype())
    x /= 255.0
    x -= mean
    x /= std
    return x


def load(name, split="train", root=None, download=True, progress=True):
    """(x, y) ready for training: x float (N, 1, 28, 28) standardised, y int64 (N,), both host arrays."""
    images, labels = load_dataset(name, split, root, download, progress)
    return prepare_images(images, dataset=name), labels


class DataLoader:
    """Iterate (xb, yb) mini-batches of backend arrays, reshuffled every epoch.

    `seed` seeds the loader's own generator; without one it is drawn from
    `xpnet.backend.rng()`, so `xpnet.backend.seed(n)` makes a run reproducible.
    With `world_size` > 1 it yields process `rank`'s part of each batch (the module docstring
    says how); give every process the same seed.
    """

    def __init__(self, x, y, batch_size, shuffle=True, seed=None, drop_last=False, shift=0, rank=0, world_size=1):
        if len(x) != len(y):
            raise ValueError(f"DataLoader: x has {len(x)} samples but y has {len(y)}")
        if not is_int(batch_size) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        if not is_int(shift) or shift < 0:
            raise ValueError(f"DataLoader: shift must be a whole number of pixels >= 0, got {shift!r}")
        if shift and getattr(x, "ndim", None) != 4:
            raise ValueError(f"DataLoader: shift needs images (N, C, H, W), got x of shape {tuple(x.shape)}")
        self.x, self.y = backend.asarray(x), backend.asarray(y)
        if shift:
            self.x = backend.xp.ascontiguousarray(self.x)  # so the flat view `_shifted` gathers from is no copy
        self.batch_size, self.shuffle, self.drop_last, self.shift = int(batch_size), shuffle, drop_last, int(shift)
        self.rank, self.world_size = _check_part(rank, world_size, self._batch_sizes())
        if seed is None:
            seed = int(backend.rng().integers(2**63))
        self._gen = host.random.default_rng(seed)
        self._epoch_start = None  # generator state before this epoch's permutation, while one is in progress
        self._done = 0            # batches handed out in the epoch in progress
        self._skip = 0            # batches the next epoch skips (set by load_state_dict)

    def __len__(self):
        n, b = len(self.x), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def __iter__(self):
        self._epoch_start = self._gen.bit_generator.state
        order, offsets = self._draw_epoch()
        first, self._skip = self._skip, 0
        for i in range(first, len(self)):
            rows = self._part(i)
            samples = order[rows] if order is not None else rows
            self._done = i + 1
            x = self.x[samples] if offsets is None else self._shifted(samples, offsets[rows])
            yield x, self.y[samples]
        self._epoch_start, self._done = None, 0

    def _batch_sizes(self):
        """The number of samples in each global batch, as (full size, size of the last batch)."""
        n, b = len(self.x), self.batch_size
        return b, (b if self.drop_last or n % b == 0 else n % b)

    def _part(self, i):
        """The rows of global batch `i` that this process takes: its contiguous share, sizes differing by
        at most one between processes."""
        start = i * self.batch_size
        size = min(self.batch_size, len(self.x) - start)
        return slice(start + size * self.rank // self.world_size, start + size * (self.rank + 1) // self.world_size)

    def _draw_epoch(self):
        """(sample order or None, per-position (row, column) offsets or None) for one epoch, on the backend.

        Drawn on the host from the loader's generator, permutation first, and moved in one copy.
        """
        n = len(self.x)
        columns = []
        if self.shuffle:
            columns.append(self._gen.permutation(n)[:, None])
        if self.shift:
            columns.append(self._gen.integers(-self.shift, self.shift + 1, size=(n, 2)))
        if not columns:
            return None, None
        drawn = backend.asarray(host.concatenate(columns, axis=1))
        order = drawn[:, 0] if self.shuffle else None
        return order, (drawn[:, -2:] if self.shift else None)

    def _shifted(self, samples, offsets):
        """Images `samples` (index array or slice), image k moved down offsets[k, 0] rows and right
        offsets[k, 1] columns: output pixel (r, c) reads input pixel (r - dr, c - dc), clipped to the edge.
        One gather from the flat data, cheaper than indexing with four broadcast index arrays."""
        xp = backend.xp
        if isinstance(samples, slice):
            samples = xp.arange(samples.start, min(samples.stop, len(self.x)))
        _, channels, height, width = self.x.shape
        rows = xp.clip(xp.arange(height) - offsets[:, :1], 0, height - 1)  # (B, H)
        cols = xp.clip(xp.arange(width) - offsets[:, 1:], 0, width - 1)    # (B, W)
        planes = samples[:, None] * channels + xp.arange(channels)         # (B, C): each image plane's index
        flat = (planes[:, :, None, None] * height + rows[:, None, :, None]) * width + cols[:, None, None, :]
        return self.x.reshape(-1)[flat]

    def state_dict(self):
        """Where the shuffle stands: the generator state and batches done in the current epoch.

        Saved mid-epoch, it restores that epoch's order and skips the batches
        already seen; saved between epochs, the next epoch's order follows. Saved after
        `load_state_dict` and before iterating, it is the state that was loaded.
        """
        if self._epoch_start is not None and self._done < len(self):
            return {"generator": self._epoch_start, "batches_done": self._done}
        return {"generator": self._gen.bit_generator.state, "batches_done": self._skip}

    def load_state_dict(self, state):
        """Restore a `state_dict()`: the next iteration continues exactly where that one stood."""
        missing = {"generator", "batches_done"} - set(state)
        if missing:
            raise ValueError(f"DataLoader.load_state_dict: missing keys {sorted(missing)}")
        done = int(state["batches_done"])
        if not 0 <= done <= len(self):
            raise ValueError(f"DataLoader.load_state_dict: batches_done={done} is outside 0..{len(self)}")
        self._gen.bit_generator.state = state["generator"]
        self._epoch_start, self._done, self._skip = None, 0, done


def _check_part(rank, world_size, batch_sizes):
    """(rank, world_size) checked: whole numbers with 0 <= rank < world_size, and every batch large enough
    to give each process at least one sample."""
    if not is_int(world_size) or world_size < 1:
        raise ValueError(f"DataLoader: world_size must be a positive int, got {world_size!r}")
    if not is_int(rank) or not 0 <= rank < world_size:
        raise ValueError(f"DataLoader: rank must be an int in 0..{world_size - 1}, got {rank!r}")
    smallest = min(batch_sizes)
    if smallest < world_size:
        raise ValueError(f"DataLoader: a batch of {smallest} samples cannot give each of {world_size} processes "
                         f"one: use a batch size of at least {world_size} (and one that leaves a last batch of at "
                         f"least {world_size}, or drop_last=True)")
    return int(rank), int(world_size)

