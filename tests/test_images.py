"""Pictures framed like MNIST digits: grayscale, light ink on black, fitted into 20x20, centred by mass."""
import sys

import numpy as np
import pytest

from xpnet.data.images import frame, load_picture, read_gray

Image = pytest.importorskip("PIL.Image", reason="Pillow is not installed")
ImageDraw = pytest.importorskip("PIL.ImageDraw")


def seven(size=(60, 100), ink="black", paper="white", mode="RGB", offset=(0, 0)):
    """A hand-drawn-looking 7 (a bar and a slanted stroke) on a picture of `size` = (width, height)."""
    picture = Image.new(mode, size, paper)
    draw = ImageDraw.Draw(picture)
    w, h = size
    dx, dy = offset
    draw.line([(dx + w * 0.2, dy + h * 0.2), (dx + w * 0.8, dy + h * 0.2), (dx + w * 0.4, dy + h * 0.85)], fill=ink,
              width=max(2, w // 8))
    return picture


def centre_of_mass(a):
    a = a.astype(float) / a.sum()
    return a.sum(axis=1) @ np.arange(a.shape[0]), a.sum(axis=0) @ np.arange(a.shape[1])


def ink_box(a):
    rows, cols = np.nonzero(a)
    return rows.max() - rows.min() + 1, cols.max() - cols.min() + 1


def test_dark_ink_on_light_paper_becomes_a_centred_mnist_digit():
    out = frame(np.asarray(seven().convert("L"), dtype=float))
    assert out.dtype == np.uint8 and out.shape == (28, 28)
    assert out.max() == 255 and out[0].max() == out[-1].max() == out[:, 0].max() == out[:, -1].max() == 0
    assert max(ink_box(out)) == 20  # the longer side of the ink fills the 20x20 box
    assert np.allclose(centre_of_mass(out), (13.5, 13.5), atol=0.5)


def test_light_on_dark_colour_and_transparent_pictures_give_the_same_digit(tmp_path):
    reference = frame(np.asarray(seven().convert("L"), dtype=float)).astype(int)
    variants = {"inverted.png": seven(ink="white", paper="black"),
                "colour.png": seven(ink=(20, 20, 160), paper=(250, 240, 200)),
                "transparent.png": seven(ink=(0, 0, 0, 255), paper=(0, 0, 0, 0), mode="RGBA"),
                "large.png": seven(size=(300, 500)),
                "photo.jpg": seven()}
    for name, picture in variants.items():
        picture.save(tmp_path / name)
        out = load_picture(tmp_path / name).astype(int)
        assert np.abs(out - reference).mean() < 12, name  # resampling and JPEG differ by a few levels
        assert np.allclose(centre_of_mass(out), (13.5, 13.5), atol=0.5), name


def test_paper_texture_is_ignored_and_camera_rotation_undone(tmp_path):
    reference = frame(np.asarray(seven().convert("L"), dtype=float)).astype(int)
    paper = np.asarray(seven().convert("L")).astype(int)
    speckled = np.minimum(paper, np.random.default_rng(0).integers(232, 256, paper.shape))  # faint grey specks
    out = frame(speckled.astype(float)).astype(int)
    assert np.abs(out - reference).mean() < 3 and max(ink_box(out)) == 20
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: shown after turning 90 degrees clockwise, as phones store portrait photos
    seven().transpose(Image.Transpose.ROTATE_90).save(tmp_path / "phone.jpg", exif=exif)
    assert np.abs(load_picture(tmp_path / "phone.jpg").astype(int) - reference).mean() < 12


def test_a_small_digit_off_centre_is_enlarged_and_centred():
    picture = Image.new("L", (200, 200), 255)
    picture.paste(seven(size=(20, 30)).convert("L"), (150, 10))
    out = frame(np.asarray(picture, dtype=float))
    assert max(ink_box(out)) == 20 and np.allclose(centre_of_mass(out), (13.5, 13.5), atol=0.5)


def test_box_centring_and_other_frame_sizes():
    gray = np.asarray(seven().convert("L"), dtype=float)
    out = frame(gray, image_size=(28, 28), fit_box=28, centre="box")
    assert ink_box(out)[0] == 28
    rows, cols = np.nonzero(out)
    assert abs((cols.min() + cols.max()) / 2 - 13.5) <= 0.5
    assert frame(gray, image_size=(40, 32), fit_box=30).shape == (40, 32)
    with pytest.raises(ValueError, match="centre must be 'mass' or 'box'"):
        frame(gray, centre="middle")


def test_unreadable_pictures_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.png: no such file \(expected a PNG or JPEG picture\)"):
        read_gray(tmp_path / "nope.png")
    (tmp_path / "notes.png").write_text("shopping list\n")
    with pytest.raises(ValueError, match=r"notes\.png: not a picture Pillow can read"):
        read_gray(tmp_path / "notes.png")
    seven().save(tmp_path / "whole.png")
    (tmp_path / "cut.png").write_bytes((tmp_path / "whole.png").read_bytes()[:200])
    with pytest.raises(ValueError, match=r"cut\.png: not a picture Pillow can read, or a damaged one"):
        read_gray(tmp_path / "cut.png")
    Image.new("L", (30, 30), 200).save(tmp_path / "blank.png")
    with pytest.raises(ValueError, match=r"blank\.png: the picture is one flat shade: no ink to recognise"):
        load_picture(tmp_path / "blank.png")


def test_without_pillow_the_error_names_the_extra(tmp_path, monkeypatch):
    seven().save(tmp_path / "seven.png")
    for name in [m for m in sys.modules if m == "PIL" or m.startswith("PIL.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match=r'reading pictures needs Pillow: pip install "xpnet\[plot\]"'):
        read_gray(tmp_path / "seven.png")
