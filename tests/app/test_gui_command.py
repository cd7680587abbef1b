"""`divcolor gui --screenshot` and `--self-test`, run as the user (or the packaged app) would:
a separate process, offscreen, without a display."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
from PIL import Image

TIMEOUT_S = 300


def divcolor(*args: str, home) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(DIVCOLOR_HOME=str(home), QT_QPA_PLATFORM="offscreen", OMP_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, "-m", "divcolor_gui", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )


def test_screenshot_waits_for_the_thumbnails(home, grey_photo_path, tiny_model_file, tmp_path):
    out = tmp_path / "shot.png"
    r = divcolor(
        "gui", str(grey_photo_path), "--screenshot", str(out), "--model", str(tiny_model_file), home=home
    )
    assert r.returncode == 0, r.stderr
    shot = np.asarray(Image.open(out).convert("RGB"))
    assert shot.shape == (820, 1280, 3)  # the default window size
    # The strip holds thumbnails, the heaviest selected: its highlight frame is in the grab.
    # (A tiny model's colours are too faint to test for.)
    strip = shot[-230:-30].astype(int)
    highlight = (strip[..., 2] - strip[..., 0] > 80).sum()
    assert highlight > 4 * 128, "no selected thumbnail in the screenshot"
    assert not (home / "config" / "settings.json").exists(), "a screenshot leaves the user's settings alone"


def test_self_test_passes_headless_and_writes_its_result(home_with_model):
    r = divcolor("gui", "--self-test", "--model", "tiny", home=home_with_model)
    assert r.returncode == 0, r.stderr
    out = home_with_model / "logs" / "self-test.png"
    assert out.is_file() and "passed" in r.stdout
    assert Image.open(out).size == (320, 240)


def test_self_test_fails_with_a_message_when_there_is_no_model(home):
    # The bundled `general` is always there, so ask for a model that is not.
    r = divcolor("gui", "--self-test", "--model", "no-such-model", home=home)
    assert r.returncode != 0
    assert r.stderr.startswith("divcolor self-test failed:") and "no-such-model" in r.stderr
    assert "general" in r.stderr  # what there is instead
