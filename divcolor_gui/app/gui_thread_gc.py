"""Python's cycle collector, run in the GUI thread only.

The collector runs in whichever thread happens to allocate when a threshold is crossed: in
this app often a worker (training, decoding). A dropped window or menu left in a reference
cycle is then destroyed there, and its Qt destructor and shiboken's wait for each other: the
worker holds Qt's lock and waits for the GIL, the GUI thread holds the GIL and waits for that
lock (a hang seen in the Trainer tab's tests, a worker pickling a checkpoint). So automatic
collection is switched off and a timer in the GUI thread collects each generation past its
threshold, as automatic collection would (the recipe pyqtgraph ships as GarbageCollector).
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

INTERVAL_MS = 1000  # how often the GUI thread looks; garbage waits at most this long


class GuiThreadGC(QObject):
    """Created in the GUI thread; `stop()` gives collection back to Python."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._thresholds = gc.get_threshold()
        self._was_enabled = gc.isenabled()
        gc.disable()
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.collect_due)
        self._timer.start(INTERVAL_MS)

    def collect_due(self) -> None:
        """The oldest generation that automatic collection would collect now (with the
        younger ones): each counts the collections of the one below it."""
        due = -1
        for generation, (count, threshold) in enumerate(zip(gc.get_count(), self._thresholds, strict=True)):
            if count <= threshold:
                break
            due = generation
        if due >= 0:
            gc.collect(due)

    def stop(self) -> None:
        self._timer.stop()
        if self._was_enabled:
            gc.enable()


def collect_in_gui_thread(app: QObject) -> GuiThreadGC:
    """Install it once for the application (kept as the app's child)."""
    existing = app.findChild(GuiThreadGC)
    return existing if existing is not None else GuiThreadGC(app)
