"""What the packaged app (PyInstaller, `divcolor.spec`) does before anything else.

A windowed app has no console: on Windows and macOS its sys.stdout and sys.stderr are
None, so any `sys.stderr.write`, progress bar or logging handler would crash it. Here they
are pointed at a log file in the user's log folder (appdirs), where a user or a bug report
can find what happened; uncaught exceptions and Qt's own warnings go there too. With a
console the streams are left as they are and the log gets a line per start and any crash.
"""

from __future__ import annotations

import logging
import os
import platform
import sys
import tempfile
from pathlib import Path

LOG_NAME = "divcolor.log"
LOG_MAX_BYTES = 2_000_000  # then divcolor.log becomes divcolor.log.1 (one old log is kept)

log = logging.getLogger("divcolor")


def _open_log() -> tuple[object, Path | None]:
    """(a text stream, its path): the log file, or os.devnull where it cannot be written
    (read-only home): the app must start either way."""
    try:
        # The one resource locator; importing it imports torch (divcolor_gui.core's __init__).
        from divcolor_gui.core.resources import user_log_dir

        d = user_log_dir()
    except Exception:  # a broken bundle: log beside the temporary files; the import fails again
        d = Path(tempfile.gettempdir())  # later, under the excepthook, and that is logged
    try:
        d.mkdir(parents=True, exist_ok=True)
        path = d / LOG_NAME
        if path.is_file() and path.stat().st_size > LOG_MAX_BYTES:
            path.replace(path.with_name(LOG_NAME + ".1"))
        # Line-buffered: a crash loses nothing already said.
        return open(path, "a", buffering=1, encoding="utf-8", errors="backslashreplace"), path
    except OSError:
        return open(os.devnull, "w"), None


def prepare() -> Path | None:
    """Set up the log file; give None stdout/stderr somewhere to go. Returns the log's path."""
    stream, path = _open_log()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False

    no_console = sys.stdout is None or sys.stderr is None
    if sys.stdout is None:
        sys.stdout = stream
    if sys.stderr is None:
        sys.stderr = stream

    previous = sys.excepthook

    def excepthook(kind, value, tb) -> None:
        log.critical("uncaught exception", exc_info=(kind, value, tb))
        if sys.stderr is not stream:  # a console: show it there as well
            previous(kind, value, tb)

    sys.excepthook = excepthook
    if no_console:
        _route_qt_messages()
    log.info(
        "start: %s; python %s on %s; bundle %s",
        " ".join(sys.argv), platform.python_version(), platform.platform(),
        getattr(sys, "_MEIPASS", "(not frozen)"),
    )  # fmt: skip
    return path


def _route_qt_messages() -> None:
    """Qt writes its warnings to file descriptor 2, which a windowed app does not have."""
    try:
        from PySide6.QtCore import QtMsgType, qInstallMessageHandler
    except ImportError:  # a Qt-free command on a Qt-free install
        return
    levels = {
        QtMsgType.QtDebugMsg: logging.DEBUG, QtMsgType.QtInfoMsg: logging.INFO,
        QtMsgType.QtWarningMsg: logging.WARNING, QtMsgType.QtCriticalMsg: logging.ERROR,
        QtMsgType.QtFatalMsg: logging.CRITICAL,
    }  # fmt: skip
    qt_log = log.getChild("qt")
    qInstallMessageHandler(lambda kind, _ctx, msg: qt_log.log(levels.get(kind, logging.INFO), msg))
