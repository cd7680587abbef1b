"""Live decoding that never falls behind: long-lived decode workers, and of the requests
that arrive while they are busy only the latest is kept. A slider dragged faster than the CPU
can decode therefore shows the newest position as soon as a worker is free, never a backlog.

Each worker is the app's one worker pattern (worker.py) running a generator that waits for
requests and yields each result. `LatestOnlyQueue` is that pattern for any job; the live
decoder (`DecodeQueue`) and the hint solver (hint_queue.py) are two uses of it. Keeping the
workers alive, rather than a thread per request, lets the next request start the moment the
last one ends, without a round trip through the GUI thread's event loop, and spares a thread
start per frame: together about a fifth of each frame on the 2-core CPU.

The live decoder runs two workers, each on half of torch's threads (one each on 2 cores),
working on successive frames side by side: a frame on one core costs about 30 % less CPU than
on two, whose threads wait for each other at every op, and while a slider is dragged the CPU,
not one frame's latency, is the limit. Results that come back after a newer one are dropped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot

from divcolor_gui.core.messages import one_line
from divcolor_gui.core.vocabulary import LIVE_WORKERS

from ..tasks import TaskRunner
from ..worker import Worker

if TYPE_CHECKING:
    from divcolor_gui.core.colorizer import Analysis, Colorizer
    from divcolor_gui.core.jobs import PreviewResult

# How long the idle worker waits for a request before it yields control back to its
# Worker, which is where a cancel (closing the window) is noticed.
HEARTBEAT_S = 0.2


def preview_job(
    colorizer: Colorizer, analysis: Analysis, z: np.ndarray, max_side: int, token: int
) -> PreviewResult:
    """core.jobs.preview_job, imported when a decode first runs (in the decode worker), not
    with this module: torch, which core.jobs needs, loads after the window shows."""
    from divcolor_gui.core.jobs import preview_job as job

    return job(colorizer, analysis, z, max_side, token)


@dataclass
class _Request:
    job: Callable[[int], object]  # run in the worker with the token; returns a result with .token
    token: int
    seq: int  # order of submission: with two workers, results can come back out of order


@dataclass
class _Done:
    seq: int  # the request's
    result: object  # the job's result, or a _Failure


@dataclass
class _Failure:
    token: int
    message: str


class _Mailbox:
    """Holds at most one request: a newer one replaces it (that is the dropping)."""

    def __init__(self):
        self._cond = threading.Condition()
        self._item: _Request | None = None

    def put(self, item: _Request) -> bool:
        """True when it replaced a request that had not started."""
        with self._cond:
            replaced = self._item is not None
            self._item = item
            self._cond.notify()
            return replaced

    @property
    def waiting(self) -> bool:
        with self._cond:
            return self._item is not None

    def clear(self) -> bool:
        """True when a waiting request was thrown away."""
        with self._cond:
            had, self._item = self._item is not None, None
            return had

    def take(self, timeout: float) -> _Request | None:
        with self._cond:
            if self._item is None:
                self._cond.wait(timeout)
            item, self._item = self._item, None
            return item


def decode_loop(mailbox: _Mailbox, share: int = 1):
    """A queue worker's generator: one _Done per request taken. With share > 1 (workers side by
    side) this thread's torch work runs on its share of torch's threads."""
    if share > 1:
        from divcolor_gui.core.device import pin_torch_threads  # imports torch: not at module import

        pin_torch_threads(share)
    while True:
        req = mailbox.take(HEARTBEAT_S)
        if req is None:
            yield None  # idle: a step boundary, so the Worker sees a cancel
            continue
        try:
            yield _Done(req.seq, req.job(req.token))
        except Exception as e:  # one bad frame must not end live decoding
            yield _Done(req.seq, _Failure(req.token, one_line(e)))


class LatestOnlyQueue(QObject):
    """Long-lived workers (`workers` of them, side by side) running jobs of which only the
    latest waiting one is kept; results from before the last `invalidate`, and any that come
    back after a newer one, are dropped."""

    ready = Signal(object)  # a job's result, for the current target
    failed = Signal(str)  # one-line message

    def __init__(self, runner: TaskRunner, parent: QObject | None = None, workers: int = 1):
        super().__init__(parent)
        self._runner = runner
        self._token = 0  # bumped whenever the target changes; older results are dropped
        self._mailbox = _Mailbox()
        self._n_workers = workers
        self._workers: list[Worker] = []
        self._seq = 0  # the last request's
        self._newest = 0  # the seq of the newest result passed on
        self._outstanding = 0  # requests handed over whose result has not come back yet
        self.dropped = 0  # requests superseded before they ran (for tests, the bench)
        self.overtaken = 0  # results dropped because a newer one came back first

    def invalidate(self) -> None:
        """Forget the waiting request and every result still on its way."""
        self._token += 1
        if self._mailbox.clear():
            self._outstanding = max(0, self._outstanding - 1)

    @property
    def busy(self) -> bool:
        """A request is waiting or decoding, or its result is still on its way."""
        return self._outstanding > 0

    def submit(self, job: Callable[[int], object]) -> None:
        """Run job(token) in a worker, replacing a request that has not started."""
        self._seq += 1
        if self._mailbox.put(_Request(job, self._token, self._seq)):
            self.dropped += 1
        else:
            self._outstanding += 1
        if not self._workers:
            self._start_workers()

    def _start_workers(self) -> None:
        for _ in range(self._n_workers):
            worker = Worker(decode_loop, self._mailbox, self._n_workers)
            # Slots of this QObject (which lives in the GUI thread) run there, queued.
            worker.progress.connect(self._on_result)
            for ended in (worker.finished, worker.cancelled):
                ended.connect(self._on_worker_ended)
            worker.failed.connect(self._on_worker_failed)
            self._workers.append(worker)
            self._runner.start(worker)

    @Slot(object)
    def _on_result(self, done: _Done | None) -> None:
        if done is None:
            return
        self._outstanding = max(0, self._outstanding - 1)
        r = done.result
        if r.token != self._token:
            return
        if done.seq < self._newest:
            self.overtaken += 1
            return
        self._newest = done.seq
        if isinstance(r, _Failure):
            self.failed.emit(r.message)
        else:
            self.ready.emit(r)

    @Slot()
    def _on_worker_ended(self) -> None:
        worker = self.sender()
        self._workers = [w for w in self._workers if w is not worker]
        if not self._workers:
            self._outstanding = 0

    @Slot(str, str)
    def _on_worker_failed(self, message: str, _trace: str) -> None:
        # The others are let go at once (they end at their next step) and a fresh set takes
        # over, now if a request is waiting, else with the next one.
        for worker in self._workers:
            worker.cancel()
        self._workers = []
        self._outstanding = 1 if self._mailbox.waiting else 0
        if self._outstanding:
            self._start_workers()
        self.failed.emit(message)


class DecodeQueue(LatestOnlyQueue):
    """Live decoding of latents for one photo: PreviewResults on `ready`."""

    def __init__(self, runner: TaskRunner, parent: QObject | None = None):
        super().__init__(runner, parent, workers=LIVE_WORKERS)
        self._colorizer: Colorizer | None = None
        self._analysis: Analysis | None = None
        self._max_side = 1024

    def set_target(self, colorizer: Colorizer | None, analysis: Analysis | None, max_side: int) -> None:
        self._colorizer, self._analysis, self._max_side = colorizer, analysis, max_side
        self.invalidate()

    def request(self, z: np.ndarray) -> None:
        if self._colorizer is None or self._analysis is None:
            return
        z = np.asarray(z, dtype=np.float32).copy()
        self.submit(partial(preview_job, self._colorizer, self._analysis, z, self._max_side))
