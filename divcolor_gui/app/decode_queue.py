"""Live decoding that never falls behind: at most one decode runs, and of the requests that
arrive meanwhile only the latest is kept. A slider dragged faster than the CPU can decode
therefore shows the newest position as soon as the CPU is free, never a backlog.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot

from divcolor_gui.core.colorizer import Analysis, Colorizer

from .jobs import PreviewResult, preview_job
from .tasks import TaskRunner
from .worker import Worker


class DecodeQueue(QObject):
    ready = Signal(object)  # PreviewResult for the current target
    failed = Signal(str)  # one-line message
    idle = Signal()  # nothing running and nothing pending

    def __init__(self, runner: TaskRunner, parent: QObject | None = None):
        super().__init__(parent)
        self._runner = runner
        self._colorizer: Colorizer | None = None
        self._analysis: Analysis | None = None
        self._max_side = 1024
        self._token = 0  # bumped whenever the target changes; older results are dropped
        self._pending: np.ndarray | None = None
        self._busy = False
        self.dropped = 0  # requests superseded before they were decoded (for tests, the bench)

    def set_target(self, colorizer: Colorizer | None, analysis: Analysis | None, max_side: int) -> None:
        self._colorizer, self._analysis, self._max_side = colorizer, analysis, max_side
        self._token += 1
        self._pending = None

    @property
    def busy(self) -> bool:
        return self._busy or self._pending is not None

    def request(self, z: np.ndarray) -> None:
        if self._colorizer is None or self._analysis is None:
            return
        if self._pending is not None:
            self.dropped += 1
        self._pending = np.asarray(z, dtype=np.float32).copy()
        if not self._busy:
            self._start_next()

    def _start_next(self) -> None:
        z, self._pending = self._pending, None
        if z is None or self._colorizer is None or self._analysis is None:
            self._busy = False
            self.idle.emit()
            return
        self._busy = True
        worker = Worker(preview_job, self._colorizer, self._analysis, z, self._max_side, self._token)
        # Slots of this QObject (which lives in the GUI thread) run there, queued.
        worker.finished.connect(self._on_done)
        worker.failed.connect(self._on_failed)
        self._runner.start(worker)

    @Slot(object)
    def _on_done(self, result: PreviewResult) -> None:
        if result.token == self._token:
            self.ready.emit(result)
        self._start_next()

    @Slot(str, str)
    def _on_failed(self, message: str, _trace: str) -> None:
        self.failed.emit(message)
        self._start_next()
