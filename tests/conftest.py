"""Generic fixtures shared by every test package (no Qt here: tests/app has its own).

`photo_factory` makes synthetic colour photos with structure (a smooth two-hue
background, saturated shapes, a little texture), so tests never need image files
from outside the repository.
"""

from __future__ import annotations

import numpy as np
import pytest


def make_photo(height: int = 96, width: int = 96, seed: int = 0, grey: bool = False) -> np.ndarray:
    """(H, W, 3) uint8 synthetic photo, deterministic in `seed`.

    grey=True returns the same picture with R = G = B (a black-and-white photo).
    """
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    y /= max(height - 1, 1)
    x /= max(width - 1, 1)
    c0, c1 = rng.uniform(0.1, 0.9, 3), rng.uniform(0.1, 0.9, 3)
    t = (0.5 + 0.5 * np.sin(2 * np.pi * (rng.uniform(0.3, 1.2) * x + rng.uniform(0.2, 1.0) * y)))[..., None]
    img = c0 * t + c1 * (1 - t)  # (H, W, 3) smooth background between two colours
    for _ in range(rng.integers(2, 5)):  # saturated blobs: the kind of edges colorization cares about
        cy, cx = rng.uniform(0.15, 0.85, 2)
        ry, rx = rng.uniform(0.08, 0.3, 2)
        colour = rng.permutation([rng.uniform(0.75, 1.0), rng.uniform(0.0, 0.3), rng.uniform(0.0, 1.0)])
        inside = ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 < 1
        img[inside] = colour
    img = img + rng.normal(0, 0.02, img.shape)  # mild texture
    img = np.clip(img, 0, 1)
    if grey:
        img = np.repeat(img @ np.array([0.299, 0.587, 0.114])[:, None], 3, axis=2)
    return (img * 255 + 0.5).astype(np.uint8)


@pytest.fixture(scope="session")
def photo_factory():
    """The `make_photo(height, width, seed, grey)` function."""
    return make_photo
