"""Keeps the app's workers (the one pattern in worker.py) alive while they run, and stops
them all when a window closes, so no QThread outlives its owner's wishes.

The threads have no Qt parent and are also held in a module-level registry: a widget that
is destroyed without being closed (a dropped reference) must not take a running QThread
down with it, which Qt answers with an abort ("Destroyed while thread is still running").
The registry lets go of a thread once deleteLater has removed it, after it finished.
"""

from __future__ import annotations

import shiboken6
from PySide6.QtCore import QObject, QThread

from .worker import Worker, start_worker

_REGISTRY: list[tuple[QThread, Worker]] = []


def _prune(entries: list[tuple[QThread, Worker]]) -> list[tuple[QThread, Worker]]:
    return [(t, w) for t, w in entries if shiboken6.isValid(t)]


class TaskRunner(QObject):
    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._live: list[tuple[QThread, Worker]] = []

    def start(self, worker: Worker) -> QThread:
        global _REGISTRY
        _REGISTRY = _prune(_REGISTRY)
        self._live = _prune(self._live)
        thread = start_worker(worker, None)
        _REGISTRY.append((thread, worker))
        self._live.append((thread, worker))
        return thread

    def running(self) -> int:
        """How many of this runner's workers are still running."""
        self._live = _prune(self._live)
        return sum(1 for t, _ in self._live if t.isRunning())

    def shutdown(self, timeout_ms: int = 60_000) -> bool:
        """Ask every worker to stop at its next step and wait for all threads; True when
        none is left running. Slow steps (a full-resolution render) are waited for, never
        terminated: a torch step killed midway can leave the process unusable."""
        self._live = _prune(self._live)
        for _thread, worker in self._live:
            if shiboken6.isValid(worker):
                worker.cancel()
        ok = True
        for thread, _ in self._live:
            if shiboken6.isValid(thread) and thread.isRunning():
                thread.quit()
                ok = thread.wait(timeout_ms) and ok
        return ok
