"""core.device: where torch runs, and on how many of its threads."""

from __future__ import annotations

import threading

import pytest
import torch

from divcolor_gui.core import device


@pytest.fixture
def four_threads(monkeypatch):
    """torch on 4 threads, as a process starts on a 4-core machine (other tests set 1)."""
    before = torch.get_num_threads()
    torch.set_num_threads(4)
    monkeypatch.setattr(device, "_TORCH_DEFAULT_THREADS", None)
    yield
    torch.set_num_threads(before)


def _in_threads(*targets) -> None:
    threads = [threading.Thread(target=t) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_pinning_a_thread_leaves_the_others_and_new_threads_as_they_were(four_threads):
    seen: dict[str, int] = {}

    def pinned() -> None:
        seen["returned"] = device.pin_torch_threads(2)
        seen["pinned"] = torch.get_num_threads()

    def fresh() -> None:
        seen["fresh"] = torch.get_num_threads()

    _in_threads(pinned)
    _in_threads(fresh)
    assert seen["pinned"] == seen["returned"] == 2
    assert seen["fresh"] == 4 and torch.get_num_threads() == 4


def test_workers_pinned_together_each_get_their_share(four_threads):
    """Two pins at once (the live decoder's two workers starting): neither takes the other's
    pinned count for the default."""
    counts: list[int] = []
    start = threading.Barrier(2)

    def worker() -> None:
        start.wait()
        device.pin_torch_threads(2)
        counts.append(torch.get_num_threads())

    for _ in range(20):
        counts.clear()
        _in_threads(worker, worker)
        assert counts == [2, 2]
    seen = []
    _in_threads(lambda: seen.append(torch.get_num_threads()))
    assert seen == [4]
