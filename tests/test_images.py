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
    with pytest.raises(FileNotFoundError, match=r"nope\.png: no such file \(expected a PNG, JPEG, TIFF, BMP, GIF or "
                                                r"WebP file\)"):
        read_gray(tmp_path / "nope.png")
    with pytest.raises(ValueError, match=r"pics: not a regular file \(a folder\?\); expected a PNG"):
        read_gray((tmp_path / "pics").mkdir() or tmp_path / "pics")
    (tmp_path / "notes.png").write_text("shopping list\n")
    with pytest.raises(ValueError, match=r"notes\.png: not a picture xpnet reads"):
        read_gray(tmp_path / "notes.png")
    seven().save(tmp_path / "whole.png")
    (tmp_path / "cut.png").write_bytes((tmp_path / "whole.png").read_bytes()[:200])
    with pytest.raises(ValueError, match=r"cut\.png: not a picture xpnet reads, or a damaged one"):
        read_gray(tmp_path / "cut.png")


@pytest.mark.parametrize("form", ["TIFF", "BMP", "GIF", "WEBP"])
def test_the_other_raster_formats_give_the_same_digit(tmp_path, form):
    seven().save(tmp_path / "seven.png")
    seven().save(tmp_path / f"seven.{form.lower()}", format=form, **({"lossless": True} if form == "WEBP" else {}))
    assert (read_gray(tmp_path / f"seven.{form.lower()}") == read_gray(tmp_path / "seven.png")).all()


def test_formats_that_run_outside_programs_are_not_opened(tmp_path, monkeypatch):
    """PostScript would be handed to Ghostscript; Pillow is not even asked to parse it."""
    from PIL import EpsImagePlugin
    opened = []
    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "_open", lambda self: opened.append(self))
    (tmp_path / "seven.eps").write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 28 28\nshowpage\n")
    with pytest.raises(ValueError, match=r"seven\.eps: not a picture xpnet reads, or a damaged one \(expected a PNG"):
        read_gray(tmp_path / "seven.eps")
    assert opened == []
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


def png_header_only(path, width, height):
    """A PNG that announces width x height 8-bit gray pixels and holds one tiny compressed row: Pillow
    opens it (reads the size) without decoding, as a decompression bomb looks before it explodes."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


def test_sixteen_bit_pictures_are_scaled_not_clipped(tmp_path):
    eight = np.asarray(seven(mode="L", ink=200, paper=30), dtype=np.uint16)
    Image.fromarray(eight * 257).save(tmp_path / "deep.png")  # 0..65535, as a scanner writes
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    gray = read_gray(tmp_path / "deep.png")
    np.testing.assert_allclose(gray, eight, atol=1e-9)
    assert np.abs(load_picture(tmp_path / "deep.png").astype(int) - frame(eight.astype(float)).astype(int)).max() <= 1


def test_float_pictures_are_scaled_or_refused(tmp_path):
    eight = np.asarray(seven(mode="L"), dtype=np.float32)
    Image.fromarray(eight / 255).save(tmp_path / "unit.tiff")
    np.testing.assert_allclose(read_gray(tmp_path / "unit.tiff"), eight, atol=1e-4)
    for bad, name in ((np.nan, "nan"), (np.inf, "inf")):
        picture = eight / 255
        picture[3, 4] = bad
        Image.fromarray(picture).save(tmp_path / f"{name}.tiff")
        with pytest.raises(ValueError, match=rf"{name}\.tiff: a floating-point picture with NaN or infinite pixels"):
            read_gray(tmp_path / f"{name}.tiff")
    Image.fromarray(eight * 1000).save(tmp_path / "huge.tiff")
    with pytest.raises(ValueError, match=r"huge\.tiff: floating-point pixels from 0 to 255000, expected 0..1 or"):
        read_gray(tmp_path / "huge.tiff")


@pytest.mark.parametrize("side", [12000, 30000])
def test_pictures_with_too_many_pixels_are_refused_before_decoding(tmp_path, side):
    from xpnet.errors import ImageError
    file = png_header_only(tmp_path / "bomb.png", side, side)
    with pytest.raises(ImageError, match=rf"bomb\.png: (too many pixels|{side}x{side} pixels, more than the)"):
        read_gray(file)


def test_large_pictures_are_reduced_before_float_work(tmp_path, monkeypatch):
    """A picture over WORK_SIDE pixels per side is averaged down by a whole factor first, which frames it as
    its smaller copy does."""
    from xpnet.data import images
    small = seven(size=(300, 500), mode="L")
    small.resize((1200, 2000), Image.Resampling.NEAREST).save(tmp_path / "big.png")
    small.save(tmp_path / "small.png")
    monkeypatch.setattr(images, "WORK_SIDE", 500)
    seen = []
    monkeypatch.setattr(images, "_levels", lambda picture, path: seen.append(picture.size) or
                        np.asarray(picture, dtype=np.float64))
    big = load_picture(tmp_path / "big.png")
    assert seen == [(300, 500)]
    assert np.array_equal(big, load_picture(tmp_path / "small.png"))


def test_a_bomb_among_pictures_is_one_error_and_the_others_are_classified(tmp_path, capsys):
    from xpnet.cli import main
    from xpnet.models import get_model
    from xpnet.train import describe, save_weights
    save_weights(tmp_path / "m.safetensors", get_model("simple_cnn"), describe("simple_cnn", {}, "mnist"))
    seven().save(tmp_path / "a.png")
    png_header_only(tmp_path / "bomb.png", 30000, 30000)
    seven(size=(80, 80)).save(tmp_path / "b.png")
    files = [str(tmp_path / n) for n in ("a.png", "bomb.png", "b.png")]
    assert main(["predict", "--checkpoint", str(tmp_path / "m.safetensors"), *files]) == 1
    out, err = capsys.readouterr()
    assert [line.split(": ")[0] for line in out.splitlines()] == [files[0], files[2]]
    assert err.startswith(f"xpnet predict: error: {files[1]}: too many pixels") and len(err.splitlines()) == 1
