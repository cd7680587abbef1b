"""A generated photo folder and one tiny model trained on it, shared by the trainer tests.

Training caches go to a temporary DIVCOLOR_HOME, set only while the trainer runs (and
passed explicitly to command-line subprocesses), so nothing touches the user's folders
and other test packages see the environment unchanged.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PIL import Image

from trainer.run import TrainConfig, run_training

N_COLOUR = 30
EPOCHS = {"features": 1, "vae": 2, "mdn": 1}


@dataclass
class PhotoFolder:
    root: Path
    colour: list[str]  # relative paths of the usable colour photos
    grey: str
    junk: str
    text: str


@dataclass
class TrainedModel:
    path: Path
    folder: PhotoFolder
    home: Path
    records: list = field(default_factory=list)
    seconds: float = 0.0


def consume(gen):
    """Run a generator to its end: (records, return value)."""
    records = []
    while True:
        try:
            records.append(next(gen))
        except StopIteration as stop:
            return records, stop.value


@pytest.fixture(scope="session")
def photo_folder(tmp_path_factory, photo_factory) -> PhotoFolder:
    root = tmp_path_factory.mktemp("photos")
    nested = root / "holiday" / "day two"
    nested.mkdir(parents=True)
    colour = []
    for i in range(N_COLOUR):
        rel = Path(f"img_{i:02d}.jpg") if i < 20 else Path("holiday") / "day two" / f"nested_{i:02d}.jpg"
        Image.fromarray(photo_factory(96, 96, seed=100 + i)).save(root / rel, quality=92)
        colour.append(str(rel))
    grey = Path("holiday") / "old_bw.jpg"
    Image.fromarray(photo_factory(96, 96, seed=7, grey=True)).save(root / grey, quality=92)
    junk = Path("broken.jpg")
    (root / junk).write_bytes(b"this is not a JPEG at all" * 40)
    text = Path("holiday") / "readme.txt"
    (root / text).write_text("captions\n")
    return PhotoFolder(root, colour, str(grey), str(junk), str(text))


@pytest.fixture(scope="session")
def divcolor_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("divcolor_home")


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory, photo_folder, divcolor_home) -> TrainedModel:
    out = tmp_path_factory.mktemp("models") / "tiny.pt"
    cfg = TrainConfig(
        data=photo_folder.root, out=out, preset="tiny", epochs=dict(EPOCHS), batch_size=8, device="cpu"
    )
    t0 = time.monotonic()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DIVCOLOR_HOME", str(divcolor_home))
        records, result = consume(run_training(cfg))
    assert result == out
    return TrainedModel(out, photo_folder, divcolor_home, records, time.monotonic() - t0)


@pytest.fixture(scope="session")
def run_to_end():
    """The `consume(generator) -> (records, return value)` helper."""
    return consume


@pytest.fixture
def subprocess_env(divcolor_home) -> dict:
    return dict(os.environ, DIVCOLOR_HOME=str(divcolor_home), OMP_NUM_THREADS="1")
