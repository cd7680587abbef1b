"""LatestOnlyQueue with workers side by side (the live decoder's two): every request's result
comes back once, in any order, and one that comes back after a newer one is dropped."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pytest

from divcolor_gui.app.colorize.decode_queue import LatestOnlyQueue
from divcolor_gui.app.tasks import TaskRunner

WAIT = 10_000


@dataclass
class _Result:
    token: int
    name: str


def test_a_result_overtaken_by_a_newer_one_is_dropped(qtbot):
    runner = TaskRunner()
    queue = LatestOnlyQueue(runner, workers=2)
    shown: list[str] = []
    queue.ready.connect(lambda r: shown.append(r.name))
    slow_may_end = threading.Event()
    fast_started = threading.Event()

    def slow(token: int) -> _Result:
        assert fast_started.wait(5)  # the second worker takes the newer request meanwhile
        slow_may_end.wait(5)
        return _Result(token, "older")

    def fast(token: int) -> _Result:
        fast_started.set()
        return _Result(token, "newer")

    queue.submit(slow)
    qtbot.waitUntil(lambda: queue._mailbox._item is None, timeout=WAIT)  # a worker took it
    queue.submit(fast)
    qtbot.waitUntil(lambda: shown == ["newer"], timeout=WAIT)
    slow_may_end.set()
    qtbot.waitUntil(lambda: queue.overtaken == 1 and not queue.busy, timeout=WAIT)
    assert shown == ["newer"] and queue.dropped == 0
    assert runner.shutdown(10_000)


@pytest.mark.parametrize("workers", [1, 2])
def test_the_latest_request_always_comes_back(qtbot, workers):
    runner = TaskRunner()
    queue = LatestOnlyQueue(runner, workers=workers)
    shown: list[str] = []
    queue.ready.connect(lambda r: shown.append(r.name))
    for i in range(30):
        queue.submit(lambda token, i=i: _Result(token, str(i)))
    qtbot.waitUntil(lambda: not queue.busy, timeout=WAIT)
    assert shown[-1] == "29"
    assert [int(n) for n in shown] == sorted(int(n) for n in shown)  # never an older one after a newer
    assert len(shown) + queue.dropped + queue.overtaken == 30
    assert runner.shutdown(10_000)


def test_after_a_worker_fails_a_fresh_set_takes_the_waiting_request(qtbot, monkeypatch):
    """A worker that dies outside any job (here: pinning its threads) is reported, the others
    are let go, and the request waiting still comes back from a fresh set."""
    import divcolor_gui.core.device as device

    calls = {"n": 0}
    real = device.pin_torch_threads

    def fails_first(share: int) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("no threads today")
        return real(share)

    monkeypatch.setattr(device, "pin_torch_threads", fails_first)
    runner = TaskRunner()
    queue = LatestOnlyQueue(runner, workers=2)
    shown: list[str] = []
    failures: list[str] = []
    queue.ready.connect(lambda r: shown.append(r.name))
    queue.failed.connect(failures.append)
    queue.submit(lambda token: _Result(token, "first"))
    qtbot.waitUntil(lambda: bool(failures) and not queue.busy, timeout=WAIT)
    assert failures == ["no threads today"]
    qtbot.waitUntil(lambda: shown == ["first"], timeout=WAIT)  # not lost with the failed worker
    queue.submit(lambda token: _Result(token, "second"))
    qtbot.waitUntil(lambda: "second" in shown and not queue.busy, timeout=WAIT)
    assert runner.shutdown(10_000)
