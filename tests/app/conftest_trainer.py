"""Helpers for the Trainer tab's tests: a small generated folder of photos.

Not a conftest.py (another test module owns that name); imported explicitly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def colour_photo(rng: np.random.Generator, size: int = 48) -> np.ndarray:
    """(size, size, 3) uint8: a smooth random colour field with a shape on it, so the
    photo is clearly colourful (mean chroma far above the greyscale threshold)."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    base = rng.uniform(40, 215, size=3)
    tilt = rng.uniform(-80, 80, size=(2, 3))
    img = base + xx[..., None] * tilt[0] + yy[..., None] * tilt[1]
    cy, cx, r = rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7), rng.uniform(0.1, 0.25)
    disc = (yy - cy) ** 2 + (xx - cx) ** 2 < r**2
    img[disc] = rng.uniform(0, 255, size=3)
    return np.clip(img, 0, 255).astype(np.uint8)


def make_photo_folder(root: Path, n_colour: int = 24, seed: int = 0) -> Path:
    """`n_colour` colour JPEGs (some in a subfolder, to prove the search is recursive),
    one greyscale JPEG and one junk file."""
    rng = np.random.default_rng(seed)
    (root / "sub").mkdir(parents=True, exist_ok=True)
    for i in range(n_colour):
        where = root / "sub" if i % 3 == 0 else root
        Image.fromarray(colour_photo(rng)).save(where / f"photo_{i:02d}.jpg", quality=90)
    grey = colour_photo(rng).mean(axis=2).astype(np.uint8)
    Image.fromarray(grey, mode="L").convert("RGB").save(root / "grey.jpg", quality=90)
    (root / "notes.txt").write_text("not a photo\n")
    return root
