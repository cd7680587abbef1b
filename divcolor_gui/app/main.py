"""Starting the app: `divcolor gui [IMAGE] [--screenshot OUT.png] [--self-test]`."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

from divcolor_gui.core.vocabulary import SHOWN_LINE

SCREENSHOT_TIMEOUT_S = 600


def run_app(args) -> int:
    if getattr(args, "self_test", False):
        from divcolor_gui.self_test import run_self_test

        return run_self_test(model=args.model, device=args.device)
    from PySide6.QtCore import QTimer

    from divcolor_gui.core.settings import Settings

    from .application import make_app
    from .main_window import MainWindow

    app = make_app()
    screenshot = getattr(args, "screenshot", None)
    probe = getattr(args, "exit_when_shown", False)
    overrides = {"device": args.device} if getattr(args, "device", "auto") not in (None, "auto") else {}
    # A screenshot is a reproducible picture of the defaults, and a startup probe a measurement:
    # neither reads nor writes the user's settings and window geometry.
    settings = Settings(overrides=overrides, persist=not (screenshot or probe))
    window = MainWindow(settings, model_override=args.model, remember_geometry=not (screenshot or probe))
    if screenshot:
        return _screenshot(app, window, args.image, Path(screenshot))
    window.show()
    if probe:
        return _exit_when_shown(app, window)
    if args.image:
        window.colorize.open_path(args.image)
    # Ctrl+C in the terminal closes the window properly (workers stopped) instead of being
    # swallowed by Qt's event loop; the timer lets Python run its signal handler.
    signal.signal(signal.SIGINT, lambda *_: window.close())
    tick = QTimer(window)
    tick.start(250)
    tick.timeout.connect(lambda: None)
    return app.exec()


def _exit_when_shown(app, window) -> int:
    """The startup benchmark's run (bench.startup_ms): paint the window once, say so on
    stdout, and close."""
    from PySide6.QtCore import QTimer

    def done() -> None:
        window.repaint()  # painted now, not at the event loop's leisure
        print(SHOWN_LINE, flush=True)
        window.close()
        app.quit()

    QTimer.singleShot(0, done)
    app.exec()
    return 0


def _screenshot(app, window, image: str | None, out: Path) -> int:
    """Open the photo, wait for the thumbnails, save a grab of the window, exit."""
    from PySide6.QtCore import QTimer

    tab = window.colorize
    tab.show_errors = False
    result = {"rc": 1}

    def finish(rc: int, message: str | None = None) -> None:
        if message:
            print(f"divcolor: {message}", file=sys.stderr)
        result["rc"] = rc
        window.close()
        app.exit(rc)

    def grab() -> None:
        app.processEvents()  # let the strip lay out its new thumbnails
        out.parent.mkdir(parents=True, exist_ok=True)
        if not window.grab().save(str(out)):
            finish(1, f"cannot write {out}")
        else:
            finish(0)

    def later() -> None:
        QTimer.singleShot(100, grab)

    tab.failed.connect(lambda title, msg: finish(1, f"{title}: {msg}"))
    has_model = tab.model_picker.has_models()
    if not has_model:
        print("divcolor: no model installed; the screenshot shows no colorizations", file=sys.stderr)
    if image:
        if has_model:
            tab.analysis_ready.connect(later)
        else:
            tab.photo_opened.connect(lambda _p: later())
        # Opened once the model is loaded, so the first analysis is the model's.
        if has_model:
            tab.model_ready.connect(lambda _n: tab.open_path(image) if tab.photo is None else None)
        else:
            tab.open_path(image)
    elif has_model:
        tab.model_ready.connect(lambda _n: later())
    else:
        QTimer.singleShot(0, later)
    QTimer.singleShot(SCREENSHOT_TIMEOUT_S * 1000, lambda: finish(1, "timed out waiting for the thumbnails"))
    window.show()
    app.exec()
    return result["rc"]
