"""The data sets xpnet knows, where their files are looked for, and loading them.

A folder "holds" a split when it has both of the split's IDX files, gzip
(`train-images-idx3-ubyte.gz`) or uncompressed (`train-images-idx3-ubyte`).
Folders are tried in this order:

1. `root`, if given: the folder itself, then `root/<name>/`;
2. `$XPNET_DATA/<name>/`;
3. the user cache `$XPNET_CACHE/<name>/`, else `$XDG_CACHE_HOME/xpnet/<name>/`
   (`~/.cache/xpnet/<name>/`);
4. system folders (Debian's dataset-fashion-mnist: `/usr/share/datasets/fashion-mnist`).

When no folder holds the split, the missing files are downloaded into the
cache (unless `download=False` or `XPNET_OFFLINE=1`); if that is off or fails,
DataNotFoundError says which files to put in which folder.
"""
import dataclasses
import os

import numpy as host  # host-side IO: arrays are read on the host and moved to the backend later

from .. import environment
from ..errors import DataNotFoundError
from . import download as downloads
from .idx import DataError, read_idx

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
SPLIT_SIZES = {"train": 60_000, "test": 10_000}  # images per split: reading never takes more


@dataclasses.dataclass(frozen=True)
class Dataset:
    """What xpnet knows about one data set; `mean`/`std` are of its training pixels scaled to [0, 1].

    `fit_box` and `centre` say how its images were framed: the object scaled to fit a
    fit_box x fit_box square, then placed with its centre of mass ("mass") or of its
    bounding box ("box") at the middle of the image (see xpnet.data.images).
    """
    name: str
    title: str
    classes: tuple
    mean: float
    std: float
    system_dirs: tuple = ()
    image_shape: tuple = (28, 28)
    fit_box: int = 20
    centre: str = "mass"

    def preprocessing(self):
        """How the model's input is made from an 8-bit grayscale image: the `preprocessing` entry of
        a model file's metadata (xpnet.train.model_file)."""
        return {"image_size": list(self.image_shape), "channels": 1, "mean": [self.mean], "std": [self.std],
                "fit_box": self.fit_box, "centre": self.centre}


DATASETS = {
    "mnist": Dataset("mnist", "MNIST", tuple(str(d) for d in range(10)), mean=0.1307, std=0.3081),
    "fashion-mnist": Dataset(
        "fashion-mnist", "Fashion-MNIST",
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        mean=0.2860, std=0.3530, system_dirs=("/usr/share/datasets/fashion-mnist",), fit_box=28, centre="box"),
}


def get(name):
    """The `Dataset` called `name` (case and "_" vs "-" do not matter), or a ValueError listing the names."""
    key = str(name).strip().lower().replace("_", "-")
    if key not in DATASETS:
        raise ValueError(f"unknown data set {name!r}: expected one of {', '.join(DATASETS)}")
    return DATASETS[key]


def _check_split(split):
    if split not in FILES:
        raise ValueError(f"unknown split {split!r}: expected one of {', '.join(FILES)}")
    return split


def cache_dir(name):
    """The folder downloads of data set `name` go to."""
    return os.path.join(environment.cache_dir(), get(name).name)


def search_path(name, root=None):
    """The folders looked in for data set `name`, in order, without duplicates."""
    ds = get(name)
    folders = []
    if root is not None:
        root = os.path.expanduser(str(root))
        folders += [root, os.path.join(root, ds.name)]
    if environment.data_dir():
        folders.append(os.path.join(environment.data_dir(), ds.name))
    folders.append(cache_dir(ds.name))
    folders += ds.system_dirs
    return list(dict.fromkeys(os.path.abspath(f) for f in folders))


def file_path(folder, base):
    """`folder/<base>.gz` or `folder/<base>`, whichever exists (gzip first), else None."""
    for path in (os.path.join(folder, base + ".gz"), os.path.join(folder, base)):
        if os.path.isfile(path):
            return path
    return None


def where(name, root=None, split=None):
    """The first folder holding the files of `split` (both splits if None), or None."""
    bases = FILES[_check_split(split)] if split is not None else FILES["train"] + FILES["test"]
    for folder in search_path(name, root):
        if all(file_path(folder, b) for b in bases):
            return folder
    return None


def _offline_reason(download):
    if not download:
        return "downloading is off (download=False)"
    if environment.offline():
        return "downloading is off (XPNET_OFFLINE is set)"
    return None


def _not_found(ds, split, root, reason):
    files = ", ".join(b + ".gz" for b in FILES[split])
    searched = "\n  ".join(search_path(ds.name, root))
    return DataNotFoundError(
        f"{ds.title} {split} files not found and {reason}.\n"
        f"Put {files} (gzip or uncompressed) into {cache_dir(ds.name)}/,\n"
        f"or into <dir>/{ds.name}/ and set XPNET_DATA=<dir>, or pass root=<folder holding them>.\n"
        f"Searched:\n  {searched}")


def locate(name, split="train", root=None, download=True, progress=True):
    """The folder holding `split` of data set `name`, downloading it into the cache if needed and allowed."""
    ds, split = get(name), _check_split(split)
    folder = where(ds.name, root, split)
    if folder is not None:
        return folder
    reason = _offline_reason(download)
    if reason is not None:
        raise _not_found(ds, split, root, reason)
    folder = cache_dir(ds.name)
    missing = [b for b in FILES[split] if file_path(folder, b) is None]
    try:
        downloads.download(ds.name, missing, folder, progress)
    except downloads.DownloadError as exc:
        raise _not_found(ds, split, root, f"downloading failed ({exc})") from exc
    return folder


def load_dataset(name, split="train", root=None, download=True, progress=True):
    """(images uint8 (N, 28, 28), labels int64 (N,)) of `split` ("train" or "test"), as host NumPy arrays.

    Raises DataNotFoundError when the files cannot be found or fetched, and
    DataError (a ValueError) when they are corrupt or do not belong together.
    """
    ds = get(name)
    folder = locate(ds.name, split, root, download, progress)
    image_file, label_file = (file_path(folder, b) for b in FILES[split])
    try:
        images = read_idx(image_file, ndim=3, what=f"{ds.title} image data", max_items=SPLIT_SIZES[split],
                          item_shape=ds.image_shape)
    except DataError as exc:
        raise DataError(f"{exc} (the data set's images are {ds.image_shape}, at most {SPLIT_SIZES[split]:,} "
                        f"in the {split} split)") from None
    labels = read_idx(label_file, ndim=1, what="label data", max_items=SPLIT_SIZES[split])
    if len(images) == 0:
        raise DataError(f"{image_file}: holds no images (expected up to {SPLIT_SIZES[split]:,} {ds.title} "
                        f"{split} images)")
    if len(images) != len(labels):
        raise DataError(f"{folder}: {len(images)} images in {os.path.basename(image_file)} but "
                        f"{len(labels)} labels in {os.path.basename(label_file)}")
    if labels.size and int(labels.max()) >= len(ds.classes):
        raise DataError(f"{label_file}: label {int(labels.max())} is out of range for "
                        f"{len(ds.classes)} {ds.title} classes")
    return images, labels.astype(host.int64)
