"""Python's cycle collector runs in the GUI thread only (app/gui_thread_gc.py)."""

from __future__ import annotations

import gc
import weakref

from divcolor_gui.app.application import make_app
from divcolor_gui.app.gui_thread_gc import GuiThreadGC


class _Node:
    pass


def test_cycles_are_collected_by_the_gui_threads_timer(qtbot, gc_in_gui_thread):
    assert not gc.isenabled()  # no thread collects as a side effect of allocating
    node = _Node()
    node.me = node  # a cycle: only the collector frees it
    gone = weakref.ref(node)
    del node
    junk = [[] for _ in range(3 * gc.get_threshold()[0])]  # past generation 0's threshold
    qtbot.waitUntil(lambda: gone() is None, timeout=5000)
    del junk


def test_the_app_installs_one_collector(qapp):
    make_app()
    make_app()
    assert len(qapp.findChildren(GuiThreadGC)) == 1
