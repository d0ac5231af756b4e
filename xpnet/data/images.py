"""A user's own pictures made into input like the data set's: grayscale, light ink on black, fitted and centred.

MNIST's digits were made so (LeCun et al.): the ink's bounding box scaled, keeping its aspect
ratio, to fit a 20x20 box, then placed in the 28x28 frame with its centre of mass at the middle.
`frame` repeats that for any picture, after making it look like the data set's images:

1. grayscale (colour by luminance; transparent areas count as white paper);
2. inverted when the background is light (the median of the border pixels is above mid-grey),
   since the data sets show light ink on black;
3. the background level subtracted and the darkest tenth of the ink range dropped as noise
   (paper texture, JPEG ringing), the rest stretched to 0..255;
4. the ink's bounding box scaled to fit `fit_box` pixels and placed in the frame by its centre of
   mass ("mass", MNIST) or its bounding box ("box", Fashion-MNIST, whose items fill the frame).

Host-side (Pillow and `numpy as host`); Pillow is imported when a picture is read.
"""
import os
import warnings

import numpy as host  # host-side image arithmetic, before anything goes to the backend

from ..errors import ImageError

_INSTALL_HINT = 'reading pictures needs Pillow: pip install "xpnet[plot]"'
NOISE = 0.1  # ink fainter than this fraction of the brightest is dropped


def _pillow():
    try:
        from PIL import Image, ImageOps, UnidentifiedImageError
    except ImportError as exc:
        raise ImportError(f"{_INSTALL_HINT} ({exc})") from exc
    return Image, ImageOps, UnidentifiedImageError


def read_gray(path):
    """The picture at `path` (one of FORMATS) as float (H, W) gray levels 0..255.

    8-bit pictures keep their levels; 16-bit ones are scaled (65535 -> 255), float ones are taken as
    0..1 (or 0..255) and refused with NaN or infinite pixels. The size is checked before decoding
    (at most MAX_PIXELS; a JPEG is measured at the reduced scale it is decoded at, within Pillow's own
    bomb limit of about 89M pixels at full size), and a picture wider or taller than
    WORK_SIDE is reduced by whole factors before any float arithmetic, so memory stays bounded.
    A missing file is a FileNotFoundError; one Pillow cannot read, or out of those bounds, an ImageError
    (a ValueError); both name the file.
    """
    Image, ImageOps, UnidentifiedImageError = _pillow()
    if not os.path.isfile(path):
        if os.path.lexists(path):
            raise ImageError(f"{path}: not a regular file (a folder?); expected {_NAMES}")
        raise FileNotFoundError(f"{path}: no such file (expected {_NAMES})")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path, formats=FORMATS) as picture:
                if picture.format == "JPEG":
                    picture.draft("L", (WORK_SIDE, WORK_SIDE))  # decode at 1/2, 1/4 or 1/8 scale when that suffices
                _check_size(picture.size, path)
                picture = ImageOps.exif_transpose(picture)
                if picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info:
                    picture = _reduced(picture.convert("RGBA"))
                    paper = Image.new("RGBA", picture.size, "white")
                    picture = Image.alpha_composite(paper, picture)
                return _levels(_reduced(picture if picture.mode in _SCALES else picture.convert("L")), path)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"{path}: too many pixels to read safely ({exc}; expected at most {MAX_PIXELS:,})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{path}: not a picture xpnet reads, or a damaged one "
                         f"(expected {_NAMES}; {exc})") from exc


# Raster formats Pillow decodes itself; others (PostScript, for one) would run outside programs on a stranger's file.
FORMATS = ("PNG", "JPEG", "TIFF", "BMP", "GIF", "WEBP")
_NAMES = "a PNG, JPEG, TIFF, BMP, GIF or WebP file"
MAX_PIXELS = 40_000_000  # larger pictures are refused before decoding (a JPEG at its reduced scale)
WORK_SIDE = 1024         # pictures are reduced to at most about this many pixels per side before float work
_SCALES = {"L": 1.0, "I;16": 255 / 65535, "I;16B": 255 / 65535, "I;16L": 255 / 65535, "I;16N": 255 / 65535,
           "I": 255 / 65535, "F": None}  # gray modes kept as they are, and the factor to 0..255 (F: by range)


def _check_size(size, path):
    width, height = size
    if width * height > MAX_PIXELS:
        raise ImageError(f"{path}: {width}x{height} pixels, more than the {MAX_PIXELS:,} a picture may have "
                         "(a photo is fine; this may be a decompression bomb)")


def _reduced(picture):
    """`picture` reduced by a whole factor (box average) so its longer side is at most about WORK_SIDE."""
    factor = -(-max(picture.size) // WORK_SIDE)
    if factor <= 1:
        return picture
    if picture.mode.startswith("I;16"):
        picture = picture.convert("I")
    return picture.reduce(factor)


def _levels(picture, path):
    """Gray levels 0..255 (float64) of a picture in one of the `_SCALES` modes."""
    mode = picture.mode
    gray = host.asarray(picture, dtype=host.float64)
    if mode in _SCALES and _SCALES[mode] is not None:
        if mode == "I" and gray.size and (gray.min() < 0 or gray.max() > 65535):
            raise ImageError(f"{path}: 32-bit integer pixels from {gray.min():g} to {gray.max():g}, expected "
                             "0..65535 (16-bit)")
        return gray * _SCALES[mode] if _SCALES[mode] != 1.0 else gray
    if not host.isfinite(gray).all():
        raise ImageError(f"{path}: a floating-point picture with NaN or infinite pixels")
    low, high = (float(gray.min()), float(gray.max())) if gray.size else (0.0, 0.0)
    if low >= 0 and high <= 1:
        return gray * 255
    if low >= 0 and high <= 255:
        return gray
    raise ImageError(f"{path}: floating-point pixels from {low:g} to {high:g}, expected 0..1 or 0..255")


def _ink(gray):
    """Light-on-dark ink 0..255 with the background at 0 (steps 2 and 3), or None for a blank picture."""
    border = host.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    background = float(host.median(border))
    ink = gray - background if background <= 127.5 else background - gray
    peak = ink.max()
    if peak <= 0:
        return None
    ink = ink * (255.0 / peak)
    ink[ink < NOISE * 255] = 0
    return ink


def _resized(patch, size):
    """`patch` (float 0..255) resampled to `size` = (height, width) with Pillow's antialiasing filter."""
    Image, _, _ = _pillow()
    picture = Image.fromarray(host.clip(patch, 0, 255).astype(host.uint8))
    return host.asarray(picture.resize((size[1], size[0]), Image.Resampling.LANCZOS), dtype=host.float64)


def frame(gray, image_size=(28, 28), fit_box=20, centre="mass"):
    """uint8 (H, W) = image_size: the picture `gray` (float (h, w) 0..255) framed as described above.

    A picture with no ink (one flat level) raises ValueError.
    """
    if centre not in ("mass", "box"):
        raise ValueError(f"frame: centre must be 'mass' or 'box', got {centre!r}")
    height, width = image_size
    ink = _ink(host.asarray(gray, dtype=host.float64))
    if ink is None:
        raise ValueError("the picture is one flat shade: no ink to recognise")
    rows, cols = host.nonzero(ink)
    patch = ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    scale = min(fit_box, height, width) / max(patch.shape)
    patch = _resized(patch, tuple(max(1, round(d * scale)) for d in patch.shape))
    if centre == "mass" and patch.sum() > 0:
        weights = patch / patch.sum()
        middle = (weights.sum(axis=1) @ host.arange(patch.shape[0]), weights.sum(axis=0) @ host.arange(patch.shape[1]))
    else:
        middle = ((patch.shape[0] - 1) / 2, (patch.shape[1] - 1) / 2)
    top, left = (min(max(round((side - 1) / 2 - m), 0), side - n)  # the whole patch stays in the frame
                 for side, m, n in zip(image_size, middle, patch.shape))
    out = host.zeros(image_size)
    out[top:top + patch.shape[0], left:left + patch.shape[1]] = patch
    return host.clip(host.rint(out), 0, 255).astype(host.uint8)


def load_picture(path, image_size=(28, 28), fit_box=20, centre="mass"):
    """The picture at `path` framed like the data set's images: uint8 (H, W). Errors name the file."""
    gray = read_gray(path)
    try:
        return frame(gray, image_size, fit_box, centre)
    except ValueError as exc:
        raise ImageError(f"{path}: {exc}") from exc
