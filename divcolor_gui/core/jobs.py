"""The slow steps the Colorize tab hands to workers: plain Qt-free functions (generators where
they report progress), so they can be tested, benchmarked and reused without a window.

Every result carries the `token` of the request, so the tab can drop the answer to a
question nobody is asking any more (an older photo, an older model).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from divcolor_gui.core import lab
from divcolor_gui.core.colorizer import Analysis, Colorizer, fit_L
from divcolor_gui.core.output_paths import atomic_path
from divcolor_gui.core.photo import Photo, load_photo

SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF"}


@dataclass
class PhotoResult:
    token: int
    photo: Photo
    compare: np.ndarray  # (h, w, 3) uint8 at preview size: the grey input, or the colour original
    analysis: Analysis | None = None  # None when there is no model
    # The model that made `analysis`: its latents decode with this one alone, also while
    # another model, just chosen, analyses the photo again.
    colorizer: Colorizer | None = None
    thumbs: list[np.ndarray] = field(default_factory=list)  # per component, heaviest first
    preview: np.ndarray | None = None  # (h, w, 3) the heaviest component at preview size
    field: torch.Tensor | None = None  # (2, 64, 64) ab/128 of that preview
    seconds: float = 0.0  # analysis (grey features + MDN) only


@dataclass
class PreviewResult:
    token: int
    z: np.ndarray  # (d,) the latent that was asked for
    field: torch.Tensor  # (2, 64, 64) ab/128
    rgb: np.ndarray  # (h, w, 3) uint8 at preview size
    seconds: float  # decode + render


@dataclass
class SamplesResult:
    token: int
    component: int
    latents: np.ndarray  # (n, d)
    thumbs: list[np.ndarray]


def preview_size_L(photo: Photo, max_side: int) -> torch.Tensor:
    """The photo's L with its longer side at most max_side (as Analysis.preview_L)."""
    return fit_L(photo.L, max_side)


def compare_image(photo: Photo, L_small: torch.Tensor) -> np.ndarray:
    """What the compare button shows: the colour original when there is one, else the grey
    input exactly as the model sees its lightness (L with no colour, through lab)."""
    h, w = L_small.shape
    if photo.is_colour:
        return np.asarray(Image.fromarray(photo.rgb).resize((w, h), Image.Resampling.BOX))
    return lab.combine(L_small, torch.zeros(2, lab.FIELD_SIZE, lab.FIELD_SIZE), mode="bilinear")


def open_photo_job(
    colorizer: Colorizer | None,
    source: Photo | str | Path,
    preview_side: int,
    thumb_side: int,
    token: int,
) -> PhotoResult:
    """Load (if a path), analyze, and decode every component: one thumbnail each, and the
    heaviest at preview size. Without a model, only the photo itself."""
    photo = source if isinstance(source, Photo) else load_photo(source)
    if colorizer is None:
        return PhotoResult(token, photo, compare_image(photo, preview_size_L(photo, preview_side)))
    a = colorizer.analyze(photo)
    fields = colorizer.decode(a.means, a)  # (K, 2, 64, 64)
    thumbs = [colorizer.render(a, f, max_side=thumb_side) for f in fields]
    preview = colorizer.render(a, fields[0], max_side=preview_side)
    return PhotoResult(
        token=token,
        photo=photo,
        compare=compare_image(photo, a.preview_L(preview_side)),
        analysis=a,
        colorizer=colorizer,
        thumbs=thumbs,
        preview=preview,
        field=fields[0],
        seconds=a.seconds,
    )


def preview_job(
    colorizer: Colorizer, analysis: Analysis, z: np.ndarray, max_side: int, token: int
) -> PreviewResult:
    t0 = time.perf_counter()
    f = colorizer.decode(torch.as_tensor(np.asarray(z, dtype=np.float32))[None], analysis)[0]  # (2, 64, 64)
    rgb = colorizer.render(analysis, f, max_side=max_side)
    return PreviewResult(token, np.asarray(z), f, rgb, time.perf_counter() - t0)


def samples_job(
    colorizer: Colorizer,
    analysis: Analysis,
    component: int,
    n: int,
    scale: float,
    thumb_side: int,
    seed: int | None,
    token: int,
) -> SamplesResult:
    z = colorizer.sample(analysis, component, n, scale=scale, seed=seed)  # (n, d)
    fields = colorizer.decode(z, analysis)
    thumbs = [colorizer.render(analysis, f, max_side=thumb_side) for f in fields]
    return SamplesResult(token, component, z.numpy(), thumbs)


def render_full_job(colorizer: Colorizer, photo: Photo, field: torch.Tensor) -> np.ndarray:
    """The result at the photo's full resolution, (H, W, 3) uint8."""
    return colorizer.render(photo, field)


def save_image(path: str | Path, rgb: np.ndarray, jpeg_quality: int = 95) -> Path:
    path = Path(path)
    fmt = SAVE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"{path.name}: unknown image type; use .png, .jpg or .tif")
    im = Image.fromarray(rgb)
    with atomic_path(path) as tmp:  # a replaced file stays whole until the new one is
        if fmt == "JPEG":
            im.save(tmp, fmt, quality=jpeg_quality)
        elif fmt == "TIFF":
            im.save(tmp, fmt, compression="tiff_lzw")
        else:
            im.save(tmp, fmt)
    return path


def render_and_save_job(
    colorizer: Colorizer, photo: Photo, field: torch.Tensor, path: Path, jpeg_quality: int
) -> Path:
    return save_image(path, render_full_job(colorizer, photo, field), jpeg_quality)


def export_all_job(colorizer: Colorizer, analysis: Analysis, paths: list[Path], jpeg_quality: int):
    """Generator: the top len(paths) components at full resolution, heaviest first; yields
    (done, total) before each so the dialog can count and cancel between photos."""
    fields = colorizer.decode(analysis.means[: len(paths)], analysis)
    for i, path in enumerate(paths):
        yield i, len(paths)
        save_image(path, colorizer.render(analysis.photo, fields[i]), jpeg_quality)
    return paths


def suggest_name(photo_path: Path | None, suffix: str = ".png", index: int | None = None) -> str:
    """photo.jpg -> photo_colorized.png (or photo_colorized_3.png for the third)."""
    stem = photo_path.stem if photo_path is not None else "photo"
    tail = f"_{index}" if index is not None else ""
    return f"{stem}_colorized{tail}{suffix}"
