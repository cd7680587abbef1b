"""core.device: where torch runs, and on how many of its threads."""

from __future__ import annotations

import threading

import torch

from divcolor_gui.core.device import pin_torch_threads


def test_pinning_a_thread_leaves_the_others_and_new_threads_as_they_were():
    default = torch.get_num_threads()
    seen: dict[str, int] = {}

    def pinned() -> None:
        seen["returned"] = pin_torch_threads(2)
        seen["pinned"] = torch.get_num_threads()

    def fresh() -> None:
        seen["fresh"] = torch.get_num_threads()

    for target in (pinned, fresh):
        t = threading.Thread(target=target)
        t.start()
        t.join()
    assert seen["pinned"] == seen["returned"] == max(1, default // 2)
    assert seen["fresh"] == default and torch.get_num_threads() == default
