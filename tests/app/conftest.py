"""Fixtures for the app's pytest-qt tests."""

from __future__ import annotations

import gc
import time

import pytest
import shiboken6

# The Colorize tab's fixtures (a tiny model trained once per session, a fresh user home,
# generated photos) live in their own module; importing them here shares them.
from colorize_fixtures import (  # noqa: F401
    colorizer,
    colour_photo_path,
    corrupt_photo_path,
    grey_photo_path,
    home,
    home_with_model,
    tiny_model_file,
)
from PySide6.QtCore import QCoreApplication, QThread

from divcolor_gui.app.gui_thread_gc import collect_in_gui_thread

THREAD_GRACE_S = 5.0  # a worker's thread quits just after its last signal is handled


@pytest.fixture(scope="package", autouse=True)
def gc_in_gui_thread(qapp):
    """As the app does (make_app): Python's cycle collector runs in the GUI thread only, or a
    worker collecting an earlier test's widgets deadlocks with it (gui_thread_gc.py)."""
    collector = collect_in_gui_thread(qapp)
    yield collector
    collector.stop()
    gc.collect()


@pytest.fixture(autouse=True)
def no_qthread_left_running(monkeypatch, request):
    """Fail a test that leaves a QThread running: a worker still going after its test
    would crash the next one or the interpreter's exit."""
    started: list[QThread] = []
    original = QThread.start

    def start(self, *args, **kwargs):
        started.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(QThread, "start", start)
    yield

    def running() -> list[QThread]:
        return [t for t in started if shiboken6.isValid(t) and t.isRunning()]

    deadline = time.monotonic() + THREAD_GRACE_S
    while running() and time.monotonic() < deadline:
        QCoreApplication.processEvents()  # delivers the queued quit() of finished workers
        for t in running():
            t.wait(20)
    left = running()
    if left:
        for t in left:  # stop them anyway so the next test starts clean
            t.quit()
            t.wait(30_000)
        pytest.fail(f"{request.node.name} left {len(left)} QThread(s) running", pytrace=False)
