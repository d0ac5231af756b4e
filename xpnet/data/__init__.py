"""Data: MNIST and Fashion-MNIST from IDX files (found locally or downloaded), and mini-batches.

    images, labels = load_dataset("mnist", "train")        # uint8 (N, 28, 28), int64 (N,)
    x = prepare_images(images, dataset="mnist")             # float32 (N, 1, 28, 28), standardised
    for xb, yb in DataLoader(x, labels, 64, seed=0): ...    # backend arrays
"""
from .datasets import (DATASETS, FILES, DataNotFoundError, Dataset, cache_dir, get, load_dataset, locate,
                       search_path, where)
from .download import DownloadError
from .idx import DataError, read_idx, write_idx
from .loader import DataLoader, load, prepare_images

__all__ = ["DATASETS", "FILES", "DataError", "DataLoader", "DataNotFoundError", "Dataset", "DownloadError",
           "cache_dir", "get", "load", "load_dataset", "locate", "prepare_images", "read_idx", "search_path",
           "where", "write_idx"]
