"""`divcolor --self-test [OUT.png]` (and `divcolor gui --self-test`): a headless check that
this installation, from source or the packaged app, works end to end.

It loads the model (the default, `general`, unless told otherwise) through the resource
locator, colorizes a generated black-and-white photo with the core and then once more
through the app's own window, workers and Qt image plugins, writes the result and reads it
back: the right size and not grey. Exit 0 on success; 1 with one line saying what failed.
Offscreen by design: the packaged app runs it in CI, where there is no display.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from divcolor_gui.core.messages import one_line

MIN_CHROMA = 2.0  # mean Lab chroma below which the result counts as grey (general: ~8 on this photo)
WINDOW_TIMEOUT_MS = 300_000  # the window's model load + analysis, on a slow machine
PHOTO_SIZE = (240, 320)  # (H, W) of the generated photo


def generated_photo(h: int = PHOTO_SIZE[0], w: int = PHOTO_SIZE[1]) -> np.ndarray:
    """(H, W, 3) uint8, R = G = B: a generated black-and-white "photo" with structure at
    several scales (sky-like gradient, ground, discs), so any colour in the result is the
    model's."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w, 3), np.float32)
    img[..., 0] = 80 + 120 * yy / h
    img[..., 1] = 120 + 60 * xx / w
    img[..., 2] = 220 - 100 * yy / h
    img[yy > 0.65 * h] = (70, 110, 40)
    for cy, cx, r, c in ((0.3, 0.3, 0.12, (230, 200, 60)), (0.6, 0.7, 0.15, (150, 40, 40))):
        img[(yy - cy * h) ** 2 + (xx - cx * w) ** 2 < (r * h) ** 2] = c
    grey = img @ np.array([0.299, 0.587, 0.114], np.float32)  # (H, W) luma
    return np.repeat(np.clip(grey + 0.5, 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def default_output() -> Path:
    """self-test.png in the user's log folder (beside the frozen app's log), or in a fresh
    temporary folder where that cannot be written."""
    from divcolor_gui.core.resources import user_log_dir

    try:
        d = user_log_dir()
        d.mkdir(parents=True, exist_ok=True)
        probe = d / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError:
        d = Path(tempfile.mkdtemp(prefix="divcolor-self-test-"))
    return d / "self-test.png"


def run_self_test(model: str | None = None, device: str = "auto", out: str | Path | None = None) -> int:
    """The command: 0 and a summary on stdout, or 1 and one line on stderr."""
    try:
        summary = _self_test(model, device, Path(out) if out else default_output())
    except Exception as e:  # any failure is the answer, stated in one line
        msg = one_line(e)
        print(f"divcolor self-test failed: {msg}", file=sys.stderr)
        return 1
    print(f"divcolor self-test passed: {summary}")
    return 0


def _self_test(model: str | None, device: str, out: Path) -> str:
    t0 = time.monotonic()
    # Before Qt is imported: a QApplication reads the platform once, when it is created.
    from PySide6.QtWidgets import QApplication

    if QApplication.instance() is None:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PIL import Image
    from PySide6.QtCore import QEventLoop, QTimer

    from divcolor_gui.app.application import make_app
    from divcolor_gui.app.images import to_qimage
    from divcolor_gui.app.main_window import MainWindow
    from divcolor_gui.core.colorizer import Colorizer
    from divcolor_gui.core.photo import photo_from_rgb8
    from divcolor_gui.core.resources import bundled_models_dir, find_model
    from divcolor_gui.core.settings import Settings

    # 1. The core alone: the model file through the resource locator, a ranked mixture.
    path = find_model(model)  # raises, listing what exists, when the name is unknown
    where = "bundled" if path.parent == bundled_models_dir() else "user"
    rgb = generated_photo()
    colorizer = Colorizer.load(path, device)
    analysis, results = colorizer.colorize(photo_from_rgb8(rgb), k=3)
    w = analysis.weights
    if not (abs(float(w.sum()) - 1) < 1e-3 and np.all(np.diff(w) <= 1e-7)):
        raise RuntimeError(f"the model's weights are not a ranked distribution: {w}")
    if results[0][1].shape != rgb.shape:
        raise RuntimeError(f"a colorization is {results[0][1].shape}, the photo {rgb.shape}")

    # 2. The same photo through the window: model picker, workers, thumbnails, decode, export.
    app = make_app()
    if app.windowIcon().isNull():
        raise RuntimeError("the app's icon did not load (resources/icons/divcolor.png)")
    with tempfile.TemporaryDirectory(prefix="divcolor-self-test-") as tmp:
        src = Path(tmp) / "self-test-input.png"
        if not to_qimage(rgb).save(str(src)):  # Qt's own image plugins are part of the install
            raise RuntimeError(f"Qt cannot write {src}")
        window = MainWindow(
            Settings(persist=False), model_override=model or path.stem, remember_geometry=False
        )
        tab = window.colorize
        tab.show_errors = False
        problems: list[str] = []
        loop = QEventLoop()
        tab.failed.connect(lambda title, msg: (problems.append(f"{title}: {msg}"), loop.quit()))
        tab.analysis_ready.connect(loop.quit)
        tab.model_ready.connect(lambda _n: tab.open_path(src))
        QTimer.singleShot(WINDOW_TIMEOUT_MS, loop.quit)
        t_window = time.monotonic()
        loop.exec()
        try:
            if problems:
                raise RuntimeError(problems[0])
            if tab.preview_rgb is None or len(tab.strip.components) != len(w):
                raise RuntimeError(
                    f"no colorizations in the window after {time.monotonic() - t_window:.0f} s"
                )
            out.parent.mkdir(parents=True, exist_ok=True)
            if not to_qimage(colorizer.render(tab.photo, tab.field)).save(str(out)):
                raise RuntimeError(f"cannot write {out}")
        finally:
            window.close()
            app.processEvents()

    # 3. The written file, read back independently of Qt.
    if not out.is_file():
        raise RuntimeError(f"{out} was not written")
    with Image.open(out) as im:
        back = np.asarray(im.convert("RGB"))
    if back.shape != rgb.shape:
        raise RuntimeError(
            f"{out} is {back.shape[1]}x{back.shape[0]}, the photo {rgb.shape[1]}x{rgb.shape[0]}"
        )
    from divcolor_gui.core.lab import mean_chroma_rgb8

    chroma = mean_chroma_rgb8(back)
    if chroma < MIN_CHROMA:
        raise RuntimeError(f"{out} is grey (mean chroma {chroma:.2f} < {MIN_CHROMA}): no colour came out")
    return (
        f"{out} ({back.shape[1]}x{back.shape[0]}, mean chroma {chroma:.1f}; "
        f"model {path.stem} ({where}, {path}); {time.monotonic() - t0:.1f} s)"
    )
