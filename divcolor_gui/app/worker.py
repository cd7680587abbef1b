"""The one worker pattern for everything slow (training, analysis, decoding, export).

A `Worker` is a QObject moved to its own QThread. It runs a plain function, or a
generator function whose every `yield` becomes a `progress` signal (the core's
training stages are such generators). Cancel is cooperative: the flag is checked
between yields and the generator is closed there, never inside a torch step
(no QThread.terminate()).

    worker = Worker(run_training, cfg)
    worker.progress.connect(...); worker.finished.connect(...); worker.failed.connect(...)
    thread = start_worker(worker)
    ...
    worker.cancel()            # returns at once; `cancelled` follows at the next step

Who deletes what, and where: a worker's last act is to move back to the thread that made it
(the GUI thread), and its owner drops it there once the thread's `finished` has arrived; the
QThread is deleted in the GUI thread too (deleteLater). Nothing with a Python wrapper is ever
deleted in the worker's thread as it ends: that needs the GIL there while the GUI thread, which
holds it, may be waiting on the ending thread, and it races the GUI thread dropping its own
reference (`worker.deleteLater` on `finished` did both: crashes in shiboken's destroy, hangs).
"""

from __future__ import annotations

import inspect
import threading
import traceback

from PySide6.QtCore import QObject, QThread, Signal, Slot

from divcolor_gui.core.messages import one_line


class Worker(QObject):
    progress = Signal(object)  # whatever the generator yielded
    finished = Signal(object)  # the function's (or generator's) return value
    failed = Signal(str, str)  # one-line message, full traceback
    cancelled = Signal()

    def __init__(self, fn, *args, **kwargs):
        super().__init__()
        self._fn, self._args, self._kwargs = fn, args, kwargs
        self._cancel = threading.Event()
        self._home = QThread.currentThread()  # where it goes back to when done

    def cancel(self) -> None:
        self._cancel.set()

    @Slot()
    def run(self) -> None:
        try:
            self._run()
        finally:
            self.moveToThread(self._home)  # its owner deletes it there (see the module's note)

    def _run(self) -> None:
        try:
            result = self._fn(*self._args, **self._kwargs)
            if inspect.isgenerator(result):
                gen = result
                try:
                    while True:
                        if self._cancel.is_set():
                            gen.close()  # runs the generator's cleanup at a step boundary
                            self.cancelled.emit()
                            return
                        self.progress.emit(next(gen))
                except StopIteration as stop:
                    result = stop.value
            if self._cancel.is_set() and result is None:
                self.cancelled.emit()
                return
            self.finished.emit(result)
        except Exception as e:  # shown to the user, never swallowed
            msg = one_line(e)
            self.failed.emit(msg, traceback.format_exc())


def start_worker(worker: Worker, parent: QObject | None = None) -> QThread:
    """Run `worker` on a new QThread that quits and cleans up when the worker ends.

    Keep a reference to the returned thread and to the worker until the thread's `finished`
    has arrived in your thread: then drop them (tasks.TaskRunner does this for you).
    """
    thread = QThread(parent)
    worker.moveToThread(thread)
    thread.started.connect(worker.run)
    for sig in (worker.finished, worker.failed, worker.cancelled):
        sig.connect(thread.quit)
    thread.finished.connect(thread.deleteLater)  # in the GUI thread; the worker is its owner's to drop
    thread.start()
    return thread
