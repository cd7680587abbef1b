"""Fixtures for the Colorize tab's tests: a real `tiny` model trained once per session on
generated photos, a fresh user home per test, and generated photos to open.

Kept out of conftest.py (which holds the QThread check shared with the Trainer tab's
tests); test modules import what they use from here.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from divcolor_gui.core import resources
from divcolor_gui.core.colorizer import Colorizer

TINY_NAME = "tiny"


def _generated_photo(h: int, w: int, seed: int) -> np.ndarray:
    """A colourful test photo: gradient, ground band, two discs (structure for the guided filter)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.empty((h, w, 3), np.float32)
    base, tilt = rng.uniform(60, 200, 3), rng.uniform(-70, 70, (2, 3))
    img[:] = base + (xx / w)[..., None] * tilt[0] + (yy / h)[..., None] * tilt[1]
    img[yy > 0.7 * h] = rng.uniform(20, 230, 3)
    for _ in range(2):
        cy, cx, r = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.08, 0.2)
        img[(yy / h - cy) ** 2 + (xx / w - cx) ** 2 < r**2] = rng.uniform(0, 255, 3)
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def tiny_model_file(tmp_path_factory) -> Path:
    """A real model of the `tiny` preset, one epoch per stage: seconds on two cores."""
    from trainer.run import TrainConfig, run_training

    root = tmp_path_factory.getbasetemp() / "divcolor-tiny"
    out = root / f"{TINY_NAME}.pt"
    if out.is_file():  # imported into several modules: train once per session all the same
        return out
    data = root / "photos"
    data.mkdir(parents=True, exist_ok=True)
    for i in range(24):
        Image.fromarray(_generated_photo(64, 64, seed=i)).save(data / f"p{i:02d}.jpg", quality=92)
    cfg = TrainConfig(
        data=data,
        out=out,
        preset="tiny",
        epochs={"features": 1, "vae": 1, "mdn": 1},
        batch_size=8,
        device="cpu",
        val_fraction=0.1,
        cache_dir=root / "cache",
    )
    gen = run_training(cfg)
    for _ in gen:
        pass
    assert out.is_file()
    return out


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A fresh user home (settings, models, logs) for one test: nothing of the real user's,
    and no bundled models either, so the tests see exactly the models they install."""
    h = tmp_path / "home"
    (h / "models").mkdir(parents=True)
    monkeypatch.setenv("DIVCOLOR_HOME", str(h))
    monkeypatch.setattr(resources, "bundled_models_dir", lambda: tmp_path / "no-bundled-models")
    return h


@pytest.fixture
def home_with_model(home, tiny_model_file) -> Path:
    shutil.copy(tiny_model_file, home / "models" / f"{TINY_NAME}.pt")
    return home


@pytest.fixture
def colorizer(tiny_model_file) -> Colorizer:
    return Colorizer.load(tiny_model_file, "cpu")


@pytest.fixture
def grey_photo_path(tmp_path) -> Path:
    """A 320x240 black-and-white photo as PNG."""
    rgb = _generated_photo(240, 320, seed=100)
    grey = (rgb @ np.array([0.299, 0.587, 0.114])).astype(np.uint8)
    p = tmp_path / "old photo.png"
    Image.fromarray(grey, mode="L").save(p)
    return p


@pytest.fixture
def colour_photo_path(tmp_path) -> Path:
    p = tmp_path / "colour.jpg"
    Image.fromarray(_generated_photo(200, 300, seed=7)).save(p, quality=92)
    return p


@pytest.fixture
def corrupt_photo_path(tmp_path) -> Path:
    p = tmp_path / "broken.jpg"
    p.write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")
    return p
