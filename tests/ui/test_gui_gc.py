"""Qt objects left in reference cycles die on the window's thread, never on a session
thread (edgeconsole/ui/gui_gc.py explains the deadlock this prevents)."""

from __future__ import annotations

import gc
import threading
import weakref
from typing import Any

from PySide6.QtCore import QObject

from edgeconsole.ui.gui_gc import GuiThreadCollector


def _qt_object_in_a_cycle(died_on: list[int]) -> None:
    holder = QObject()
    holder.setObjectName("left in a cycle by a closed chart")
    holder.itself = holder  # type: ignore[attr-defined]
    weakref.finalize(holder, lambda: died_on.append(threading.get_ident()))


def _allocate_like_a_session_thread() -> None:
    # Enough container allocations to cross every generation's threshold many times:
    # with automatic collection on, CPython collects right here, on this thread.
    kept: list[Any] = []
    for i in range(200_000):
        node: list[Any] = [i]
        node.append(node)
        kept.append(node)
        if len(kept) > 1000:
            kept.clear()


def test_a_qt_cycle_dies_on_the_window_thread_not_on_the_thread_that_allocates(
    qtbot: Any,
) -> None:
    assert not gc.isenabled(), "a Qt test runs with the window-thread collector"
    died_on: list[int] = []
    _qt_object_in_a_cycle(died_on)
    worker = threading.Thread(target=_allocate_like_a_session_thread)
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert died_on == [], "the session thread collected the window's Qt object"
    qtbot.waitUntil(lambda: bool(died_on), timeout=5000)
    assert died_on == [threading.get_ident()]


def test_the_collector_collects_what_crossed_a_threshold_and_gives_collection_back(
    qapp: Any,
) -> None:
    gc.collect()
    collector = GuiThreadCollector()
    # The test's own collector is running: restore its state afterwards.
    was_enabled = gc.isenabled()
    collector.start()
    died_on: list[int] = []
    _qt_object_in_a_cycle(died_on)
    for _ in range(gc.get_threshold()[0] + 10):
        node: list[Any] = []
        node.append(node)
    collector.collect_due()
    assert died_on == [threading.get_ident()]
    assert collector.passes == 1
    collector.stop()
    assert gc.isenabled() == was_enabled
