"""Reading the photos users bring: every mode and bit depth, EXIF rotation, and
one-line errors for what cannot be read. All files are generated here."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image
from skimage.color import rgb2lab

from divcolor_gui.core.photo import PhotoError, load_photo, photo_from_rgb8

H, W = 48, 80  # deliberately not square


def _L_of(rgb8: np.ndarray) -> np.ndarray:
    return rgb2lab(rgb8 / 255.0)[..., 0]


def _one_line(err: pytest.ExceptionInfo, name: str) -> str:
    msg = str(err.value)
    assert msg.strip() and "\n" not in msg, f"not one line: {msg!r}"
    assert name in msg, f"the message should name the file: {msg!r}"
    return msg


@pytest.fixture
def colour(photo_factory) -> np.ndarray:
    return photo_factory(H, W, seed=11)


def test_colour_png(tmp_path, colour):
    path = tmp_path / "colour.png"
    Image.fromarray(colour).save(path)
    p = load_photo(path)
    assert p.size == (W, H) and p.L.shape == (H, W) and p.L.dtype == torch.float32
    np.testing.assert_array_equal(p.rgb, colour)
    assert p.is_colour is True and p.source_mode == "RGB"
    assert np.abs(p.L.numpy() - _L_of(colour)).max() < 1e-3


def test_grey_8bit_png(tmp_path):
    g = np.tile(np.linspace(0, 255, W).round().astype(np.uint8), (H, 1))
    path = tmp_path / "grey.png"
    Image.fromarray(g, mode="L").save(path)
    p = load_photo(path)
    assert p.source_mode == "L" and p.is_colour is False
    assert p.rgb.shape == (H, W, 3)
    np.testing.assert_array_equal(p.rgb, np.repeat(g[..., None], 3, 2))
    assert np.abs(p.L.numpy() - _L_of(np.repeat(g[..., None], 3, 2))).max() < 1e-3


def test_grey_16bit_png(tmp_path):
    g16 = np.tile(np.linspace(0, 65535, W).round().astype(np.uint16), (H, 1))
    path = tmp_path / "grey16.png"
    Image.fromarray(g16).save(path)
    assert Image.open(path).mode == "I;16"
    p = load_photo(path)
    assert p.source_mode == "I;16" and p.is_colour is False
    want = np.round(g16 / 65535 * 255).astype(int)  # full range kept, not the low byte
    assert np.abs(p.rgb[..., 0].astype(int) - want).max() <= 1
    assert p.L[0, 0] == pytest.approx(0, abs=0.01) and p.L[0, -1] == pytest.approx(100, abs=0.01)


def test_rgb_16bit_tiff(tmp_path):
    rng = np.random.default_rng(0)
    t = rng.integers(0, 65536, (H, W, 3), dtype=np.uint16)
    path = tmp_path / "deep.tif"
    tifffile.imwrite(path, t, photometric="rgb")
    p = load_photo(path)
    assert p.size == (W, H)
    want = np.round(t / 65535 * 255).astype(int)
    assert np.abs(p.rgb.astype(int) - want).max() <= 1
    assert p.is_colour is True


def test_rgba_16bit_tiff_flattens_alpha_on_white(tmp_path):
    t = np.zeros((H, W, 4), dtype=np.uint16)
    t[..., 0] = 65535  # red
    t[:, : W // 2, 3] = 65535  # left half opaque, right half transparent
    path = tmp_path / "deep_alpha.tif"
    tifffile.imwrite(path, t, photometric="rgb", extrasamples=["unassalpha"])
    p = load_photo(path)
    np.testing.assert_array_equal(p.rgb[0, 0], [255, 0, 0])
    np.testing.assert_array_equal(p.rgb[0, -1], [255, 255, 255])


def test_palette_png(tmp_path, colour):
    pal = Image.fromarray(colour).quantize(colors=16)
    path = tmp_path / "palette.png"
    pal.save(path)
    p = load_photo(path)
    assert p.source_mode == "P"
    np.testing.assert_array_equal(p.rgb, np.asarray(pal.convert("RGB")))
    assert p.is_colour is True


def test_rgba_png_alpha_flattened_on_white(tmp_path):
    a = np.zeros((H, W, 4), np.uint8)
    a[..., 2] = 255  # blue
    a[:, : W // 2, 3] = 255  # opaque
    a[:, W // 2 :, 3] = 0  # transparent
    a[:5, :5, 3] = 128  # half-transparent corner
    path = tmp_path / "alpha.png"
    Image.fromarray(a, "RGBA").save(path)
    p = load_photo(path)
    np.testing.assert_array_equal(p.rgb[10, 10], [0, 0, 255])
    np.testing.assert_array_equal(p.rgb[10, -1], [255, 255, 255])
    # 50% blue over white: (127 or 128, same, 255)
    assert np.abs(p.rgb[0, 0].astype(int) - [127, 127, 255]).max() <= 1


def test_cmyk_jpeg(tmp_path, colour):
    path = tmp_path / "print.jpg"
    Image.fromarray(colour).convert("CMYK").save(path, quality=98)
    p = load_photo(path)
    assert p.source_mode == "CMYK" and p.rgb.shape == (H, W, 3)
    # Not inverted or channel-swapped: the colours come back (JPEG error aside).
    assert np.abs(p.rgb.astype(int) - colour).mean() < 6


def test_exif_rotated_jpeg(tmp_path):
    """Orientation 6: the stored top-left corner is shown top-right, and W and H swap."""
    img = np.full((H, W, 3), (40, 90, 160), np.uint8)
    img[:8, :8] = (255, 0, 0)  # mark the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    Image.fromarray(img).save(path, exif=exif.tobytes(), quality=95)
    p = load_photo(path)
    assert p.size == (H, W) and p.rgb.shape == (W, H, 3) and p.L.shape == (W, H)
    top_right = p.rgb[1:6, -6:-1].reshape(-1, 3).mean(0)
    assert top_right[0] > 200 and top_right[1:].max() < 60
    for corner in (p.rgb[1:6, 1:6], p.rgb[-6:-1, 1:6], p.rgb[-6:-1, -6:-1]):
        assert corner.reshape(-1, 3).mean(0)[0] < 80  # the mark is nowhere else


def test_too_many_pixels(tmp_path, colour):
    path = tmp_path / "huge.png"
    Image.fromarray(colour).save(path)
    with pytest.raises(PhotoError) as err:
        load_photo(path, max_pixels=H * W - 1)
    _one_line(err, "huge.png")
    assert load_photo(path, max_pixels=H * W).size == (W, H)  # exactly at the limit is fine


def test_too_small(tmp_path):
    path = tmp_path / "icon.png"
    Image.new("RGB", (8, 40), (200, 10, 10)).save(path)
    with pytest.raises(PhotoError) as err:
        load_photo(path)
    assert "too small" in _one_line(err, "icon.png")


def test_truncated_jpeg(tmp_path, colour):
    good = tmp_path / "good.jpg"
    Image.fromarray(colour).save(good, quality=95)
    data = good.read_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(PhotoError) as err:
        load_photo(path)
    _one_line(err, "cut.jpg")


def test_corrupt_jpeg(tmp_path):
    path = tmp_path / "corrupt.jpg"
    rng = np.random.default_rng(5)
    path.write_bytes(b"\xff\xd8\xff\xe0" + rng.integers(0, 256, 3000, dtype=np.uint8).tobytes())
    with pytest.raises(PhotoError) as err:
        load_photo(path)
    _one_line(err, "corrupt.jpg")


def test_text_file_named_jpg(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("these are my holiday notes, not a photo\n" * 20)
    with pytest.raises(PhotoError) as err:
        load_photo(path)
    _one_line(err, "notes.jpg")


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(PhotoError) as err:
        load_photo(tmp_path / "gone.jpg")
    _one_line(err, "gone.jpg")
    with pytest.raises(PhotoError) as err:
        load_photo(tmp_path)
    _one_line(err, tmp_path.name)


def test_a_named_pipe_is_refused_without_waiting_for_a_writer(tmp_path):
    path = tmp_path / "pipe.jpg"
    os.mkfifo(path)
    with pytest.raises(PhotoError) as err:
        load_photo(path)  # opening it would block until something writes to it
    assert "not a regular file" in _one_line(err, "pipe.jpg")


def test_grey_input_is_area_averaged_and_scaled(photo_factory):
    rgb = photo_factory(64, 128, seed=3)
    p = photo_from_rgb8(rgb)
    g = p.grey_input(32)
    assert g.shape == (1, 1, 32, 32)
    L = _L_of(rgb)
    want = (L.reshape(32, 2, 32, 4).mean((1, 3)) - 50) / 50  # squashed to a square by area
    assert np.abs(g[0, 0].double().numpy() - want).max() < 1e-4


def test_near_grey_photo_is_not_colour(photo_factory):
    grey = photo_factory(40, 40, seed=4, grey=True)
    assert photo_from_rgb8(grey).is_colour is False
    assert photo_from_rgb8(photo_factory(40, 40, seed=4)).is_colour is True


def test_an_unreadable_file_says_so_not_that_it_is_damaged(tmp_path, colour, monkeypatch):
    path = tmp_path / "locked.png"
    Image.fromarray(colour).save(path)

    def refuse(*_a, **_k):  # as for a file of another user's, mode 600 (tests may run as root)
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(Image, "open", refuse)
    with pytest.raises(PhotoError) as err:
        load_photo(path)
    assert "permission denied" in _one_line(err, "locked.png")
