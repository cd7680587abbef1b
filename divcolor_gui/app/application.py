"""The QApplication, made once and named, with the app's icon: shared by the window
(`main.run_app`) and the headless self-test (`divcolor_gui.self_test`)."""

from __future__ import annotations

import sys

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from divcolor_gui.core.resources import APP_NAME, resource_path
from divcolor_gui.qt_platform import check_xcb

from .gui_thread_gc import collect_in_gui_thread


def make_app() -> QApplication:
    """The QApplication (created once), named so Qt's own paths say divcolor."""
    app = QApplication.instance()
    if app is None:
        # Qt reads the platform here and, when its X11 plugin cannot load, aborts with a message
        # that names no package: say which ones to install first.
        check_xcb()
        app = QApplication(sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    _set_window_icon(app)
    collect_in_gui_thread(app)  # never in a worker: see gui_thread_gc.py
    return app


def _set_window_icon(app: QApplication) -> None:
    """The app's icon on every window (title bar, task switcher), from the resources that
    ship beside the code or inside the packaged app."""
    try:
        app.setWindowIcon(QIcon(str(resource_path("icons", "divcolor.png"))))
    except FileNotFoundError as e:  # an install without resources/icons: Qt's default icon
        print(f"divcolor: {e}", file=sys.stderr)
