"""Atomic file writes: a reader sees the old file or the complete new one, never half of one.

Everything xpnet writes (downloads, checkpoints, histories, pictures, run configs)
goes through `atomic_write`: the data goes to a hidden temporary file in the
target's folder, is flushed to disk, and is then renamed over the target with
`os.replace` (atomic on POSIX and Windows within one file system). A failure
inside the block deletes the temporary file and leaves any previous file as it
was. Files are created with the usual permissions (0o666 less the umask), not
the owner-only 0o600 of `tempfile.mkstemp`: they are ordinary user files.
"""
import contextlib
import json
import os
import re
import secrets
from pathlib import Path


def temp_path(path, suffix=".tmp"):
    """A fresh hidden name beside `path` (same folder, so os.replace onto `path` is atomic)."""
    path = Path(path)
    return path.with_name(f".{path.name}.{secrets.token_hex(6)}{suffix}")


def stale_temps(path, suffix=".tmp"):
    """The entries beside `path` named as `temp_path(path, suffix)` names them: what interrupted writes left."""
    path = Path(path)
    pattern = re.compile(rf"\.{re.escape(path.name)}\.[0-9a-f]{{12}}{re.escape(suffix)}")
    return [entry for entry in path.parent.iterdir() if pattern.fullmatch(entry.name)]


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """Yield a file object ("wb" or "w", UTF-8) whose contents replace `path` when the block succeeds.

    `f.name` is the temporary file's path (e.g. to verify a download before it is
    committed). Missing parent folders are created.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_write: mode must be 'wb' or 'w', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    # "x": exclusive create, with permissions 0o666 & ~umask
    f = open(tmp, mode.replace("w", "x"), encoding=None if "b" in mode else "utf-8")
    try:
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_bytes(path, data):
    """Write `data` (bytes) to `path` atomically."""
    with atomic_write(path) as f:
        f.write(data)


def write_json(path, obj, indent=2):
    """Write `obj` as JSON text (with a final newline) to `path` atomically."""
    with atomic_write(path, "w") as f:
        f.write(json.dumps(obj, indent=indent) + "\n")
