"""Reading the photos users bring: any mode, any bit depth, EXIF-rotated, huge.

A photo is reduced at once to what colorization needs: its full-resolution L
(float32, Lab units) and, for display and comparison, an 8-bit RGB copy.
Everything that can go wrong becomes a PhotoError with one readable line.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from . import lab

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")
MAX_PIXELS = 150_000_000  # beyond this a photo would need gigabytes just to hold its L
MIN_SIDE = 16

# We enforce our own limit with a clear message; PIL's bomb check would raise its own.
Image.MAX_IMAGE_PIXELS = None


class PhotoError(Exception):
    """A photo that cannot be used; str() is one line naming the file and the problem."""


@dataclass
class Photo:
    path: Path | None
    L: torch.Tensor  # (H, W) float32 Lab L in [0, 100], full resolution
    rgb: np.ndarray  # (H, W, 3) uint8: the original as shown (grey repeated if grey); see load_photo
    is_colour: bool  # False for grey or near-grey originals
    source_mode: str  # the file's PIL mode, for messages ("I;16", "CMYK", ...)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return self.L.shape[1], self.L.shape[0]

    def grey_input(self, size: int) -> torch.Tensor:
        """(1, 1, size, size) network input in [-1, 1]; the photo is squashed to a square,
        as in training, and the field is stretched back in `lab.combine`."""
        L = torch.nn.functional.interpolate(self.L[None, None], size=(size, size), mode="area")
        return lab.l_to_net(L)


def _to_rgb8(img: Image.Image) -> np.ndarray:
    """Any PIL image -> (H, W, 3) uint8 sRGB, flattening alpha onto white."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        a = np.asarray(img).astype(np.float32)
        top = 65535.0 if a.max() > 255 or mode.startswith("I;16") else 255.0
        g = np.clip(a / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(g[..., None], 3, axis=2)
    if mode == "F":
        a = np.asarray(img, dtype=np.float32)
        top = 1.0 if a.max() <= 1.0 else 255.0
        g = np.clip(a / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(g[..., None], 3, axis=2)
    if mode in ("P", "PA"):
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "RGBa", "La"):
        img = img.convert("RGBA")
        white = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, img)
    # Straight to numpy where PIL's own RGB copy (4 bytes a pixel) would be wasted: for a
    # 150-megapixel photo that copy alone is 600 MB.
    if mode == "L":
        return np.repeat(np.asarray(img)[..., None], 3, axis=2)
    if mode == "RGB":
        return np.asarray(img)
    # CMYK (including Adobe's inverted JPEGs, which PIL undoes), YCbCr, 1, LAB, HSV.
    return np.asarray(img.convert("RGB"))


def _read_tiff_16bit(path: Path) -> np.ndarray | None:
    """16-bit colour TIFFs, which PIL reads poorly; None when not applicable."""
    try:
        import tifffile  # ships with scikit-image
    except ImportError:  # pragma: no cover - scikit-image always brings it
        return None
    a = tifffile.imread(str(path))
    if a.dtype != np.uint16:
        return None
    if a.ndim == 3 and a.shape[0] in (3, 4) and a.shape[-1] not in (3, 4):
        a = np.moveaxis(a, 0, -1)  # planar
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    if a.ndim != 3 or a.shape[-1] not in (3, 4):
        return None
    rgb = a[..., :3].astype(np.float32) / 65535.0
    if a.shape[-1] == 4:  # alpha onto white
        alpha = a[..., 3:4].astype(np.float32) / 65535.0
        rgb = rgb * alpha + (1 - alpha)
    return (rgb * 255 + 0.5).astype(np.uint8)


def read_rgb8(
    path: str | Path, max_pixels: int = MAX_PIXELS, draft_side: int | None = None
) -> tuple[np.ndarray, str]:
    """Read any supported file as upright (H, W, 3) uint8 sRGB and its source mode.

    draft_side lets JPEG decoding skip detail below that size (training's cache only
    needs small copies; a 12-megapixel JPEG then decodes several times faster)."""
    path = Path(path)
    if not path.exists():
        raise PhotoError(f"{path}: no such file")
    if path.is_dir():
        raise PhotoError(f"{path}: is a folder, not a photo")
    if not path.is_file():  # a named pipe or a device: reading it could wait forever
        raise PhotoError(f"{path}: not a regular file (a pipe or a device), not a photo")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as img:
                w, h = img.size
                if w * h > max_pixels:
                    raise PhotoError(
                        f"{path}: {w}x{h} is {w * h / 1e6:.1f} megapixels, "
                        f"more than the {max_pixels:,} pixels this program handles"
                    )
                if min(w, h) < MIN_SIDE:
                    raise PhotoError(f"{path}: {w}x{h} is too small (under {MIN_SIDE} px)")
                mode = img.mode
                if draft_side and img.format == "JPEG":
                    img.draft(img.mode, (draft_side, draft_side))
                rgb = None
                if img.format == "TIFF" and mode not in ("1", "L", "P", "RGB", "RGBA", "CMYK"):
                    rgb = _read_tiff_16bit(path)
                if rgb is None:
                    img.load()
                    rgb = _to_rgb8(img)
                # EXIF orientation: apply the same transpose PIL would.
                orientation = img.getexif().get(0x0112, 1)
    except PhotoError:
        raise
    except UnidentifiedImageError:
        raise PhotoError(f"{path}: not an image file, or a format this program cannot read") from None
    except PermissionError:
        raise PhotoError(f"{path}: permission denied (this user cannot read the file)") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise PhotoError(f"{path}: the file is damaged or truncated ({e})") from e
    except MemoryError:
        raise PhotoError(f"{path}: not enough memory to open this photo") from None
    if orientation in (2, 3, 4, 5, 6, 7, 8):
        rgb = np.asarray(ImageOps.exif_transpose(_orientation_stub(rgb, orientation)))
    return np.ascontiguousarray(rgb), mode


def _orientation_stub(rgb: np.ndarray, orientation: int) -> Image.Image:
    """An Image carrying only the orientation tag, for ImageOps.exif_transpose."""
    im = Image.fromarray(rgb)
    exif = Image.Exif()
    exif[0x0112] = orientation
    im.info["exif"] = exif.tobytes()
    return im


def small_copy(rgb: np.ndarray, height: int = 256) -> np.ndarray:
    """Every n-th pixel, at least `height` rows and under twice that: a cheap stand-in for
    a big image (a contact sheet's tile, a colour test) without a full-size copy."""
    step = max(1, rgb.shape[0] // (2 * height))
    return np.ascontiguousarray(rgb[::step, ::step])


def is_colour_rgb8(rgb: np.ndarray, threshold: float = 3.0) -> bool:
    """True when a photo carries real colour: mean chroma (Lab units) above threshold,
    measured on a small copy. Sepia prints come out around 5-10 and count as colour here
    (the app shows them as they are beside the colorization); training keeps them too, as
    it skips only photos under trainer.data.GREY_CHROMA."""
    small = np.array(Image.fromarray(small_copy(rgb, 128)).resize((64, 64), Image.BILINEAR))
    return lab.mean_chroma_rgb8(small) > threshold


def load_photo(path: str | Path, max_pixels: int = MAX_PIXELS, keep_original: bool = True) -> Photo:
    """keep_original=False keeps only a small copy of the original in `rgb` (the command
    line never shows it): a 150-megapixel photo then holds its L alone, 450 MB less."""
    rgb, mode = read_rgb8(path, max_pixels=max_pixels)
    photo = photo_from_rgb8(rgb, path=Path(path), source_mode=mode)
    if not keep_original:
        photo.rgb = small_copy(rgb)
    del rgb
    _return_freed_memory()
    return photo


def _return_freed_memory() -> None:
    """Decoding leaves the C heap holding what the decoder and the L conversion freed (about
    120 MB for a 12-megapixel photo), which glibc keeps for reuse rather than return; give it
    back to the system. Elsewhere (no glibc) a no-op."""
    if _malloc_trim is not None:
        _malloc_trim(0)


def _find_malloc_trim():
    try:
        import ctypes

        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None


_malloc_trim = _find_malloc_trim()


def photo_from_rgb8(rgb: np.ndarray, path: Path | None = None, source_mode: str = "RGB") -> Photo:
    """(H, W, 3) uint8 -> Photo; L is computed in row chunks to keep big photos light."""
    H, W, _ = rgb.shape
    L = torch.empty(H, W, dtype=torch.float32)
    step = max(1, 1_000_000 // max(W, 1))
    for y0 in range(0, H, step):
        L[y0 : y0 + step] = lab.rgb8_to_l(rgb[y0 : y0 + step])
    return Photo(path=path, L=L, rgb=rgb, is_colour=is_colour_rgb8(rgb), source_mode=source_mode)
