"""How many preview updates per second the real window shows while a slider is dragged.

`divcolor bench` times the decode path alone; this drives the Colorize tab's A<->B slider
in the real main window about 70 times a second for a few seconds and counts the previews
that reach the large view, so the GUI thread's own work (slider events, painting) and the
decode worker's hand-offs are included. The preview is forced to 1024 px on its longer side,
as in the app's target (>= 60 updates/s on a 2-core CPU, in a real X window).

    xvfb-run -a -s "-screen 0 1920x1200x24" env QT_QPA_PLATFORM=xcb python benchmarks/live_preview.py
    QT_QPA_PLATFORM=offscreen python benchmarks/live_preview.py [--model general] [--seconds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from divcolor_gui.app.main_window import MainWindow
from divcolor_gui.bench import PHOTO_SIZE, PREVIEW_SIDE, _photo_rgb
from divcolor_gui.core.settings import Settings

# The next slider step comes 12 ms after the last one was handled: about 70 steps a second,
# faster than the 60 updates a second the app aims for (a dragging mouse reports about as
# often once Qt folds the motion events that queue up while a step is handled). A timer that
# kept 83 steps a second whatever each costs would measure the handling of steps no mouse
# sends as much as the previews.
TICK_MS = 12


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="general")
    ap.add_argument("--seconds", type=float, default=5.0)
    args = ap.parse_args()

    app = QApplication(sys.argv[:1])
    tmp = tempfile.TemporaryDirectory(prefix="divcolor-live-")
    photo = Path(tmp.name) / "photo.jpg"
    Image.fromarray(_photo_rgb(*PHOTO_SIZE)).convert("L").save(photo, quality=90)

    settings = Settings(overrides={"model": args.model}, persist=False)  # the user's file stays as it is
    window = MainWindow(settings)
    window.resize(1600, 1000)
    window.show()
    tab = window.colorize
    tab.preview_side = lambda: PREVIEW_SIDE  # the offscreen screen is small; measure at the target size
    frames: list[float] = []
    tab.preview_updated.connect(lambda: frames.append(tab.last_decode_s))
    result: dict = {}

    def drive() -> None:
        slider = tab.explorer.ab.slider.slider
        t0, n0, moves = time.perf_counter(), len(frames), [0]

        def tick() -> None:
            moves[0] += 1
            slider.setValue(moves[0] * 7 % (slider.maximum() + 1))
            if time.perf_counter() - t0 < args.seconds:
                QTimer.singleShot(TICK_MS, tick)
                return
            shown = frames[n0:]
            result.update(
                updates_per_s=len(shown) / args.seconds,
                moves=moves[0],
                job_ms=1000 * statistics.median(shown) if shown else float("nan"),
            )
            window.close()
            app.quit()

        tick()

    tab.analysis_ready.connect(lambda: QTimer.singleShot(500, drive))
    tab.open_path(str(photo))
    app.exec()
    tmp.cleanup()
    if not result:
        print("the photo was never analysed", file=sys.stderr)
        return 1
    print(
        f"{args.model}: {result['updates_per_s']:.1f} preview updates/s at {PREVIEW_SIDE} px "
        f"({result['moves']} slider moves in {args.seconds:g} s; decode + render median {result['job_ms']:.1f} ms)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
