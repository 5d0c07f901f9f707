"""Python's cyclic garbage collector runs on the window's thread only.

Why: CPython collects cycles on whichever thread happens to allocate when a
threshold is crossed. If that is a session thread (the opening thread parsing a
model, a capture loop) and the garbage holds a Qt object made on the window's
thread (a pyqtgraph item left in a cycle by a closed chart), ``~QObject()`` runs
there: it takes Qt's connection mutex, then shiboken waits for the GIL, while the
window's thread holds the GIL and waits for that mutex in ``QObject::connect``.
Both stop for good (seen in a clean-clone test run: both threads at 0% CPU).
Qt objects must die on the thread that owns them, so automatic collection is off
and the window's event loop collects, generation by generation, with the same
thresholds CPython would use.
"""

from __future__ import annotations

import gc
import time

from PySide6.QtCore import QObject, QTimer

#: How often the window looks at the collector's counts. Garbage made by session
#: threads waits at most this long; a young-generation pass costs well under 1 ms.
CHECK_INTERVAL_MS = 100


class GuiThreadCollector(QObject):
    """Turns automatic collection off and collects from a timer on the thread it lives on
    (the window's). ``stop()`` collects once more and turns automatic collection back on."""

    def __init__(self, parent: QObject | None = None, interval_ms: int = CHECK_INTERVAL_MS) -> None:
        super().__init__(parent)
        self._thresholds = gc.get_threshold()
        self._was_enabled = gc.isenabled()
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.collect_due)
        self.passes = 0
        self.longest_ms = 0.0

    def start(self) -> GuiThreadCollector:
        gc.disable()
        self._timer.start()
        return self

    def settle(self) -> None:
        """Once the window is up: what start-up made and still holds (modules, widgets)
        lives as long as the app, so it moves out of the collector's sight (``gc.freeze``).
        Without this every young-generation pass for minutes re-traverses the tens of
        thousands of start-up objects (passes of 70-100 ms measured; after it, under 1 ms)."""
        gc.collect()
        gc.freeze()

    def stop(self) -> None:
        self._timer.stop()
        gc.unfreeze()
        gc.collect()
        if self._was_enabled:
            gc.enable()

    def collect_due(self) -> None:
        """Collect the oldest generation whose count passed its threshold, as CPython's
        own trigger would have (a generation's collection includes the younger ones)."""
        counts = gc.get_count()
        due = -1
        for generation in range(3):
            if counts[generation] > self._thresholds[generation]:
                due = generation
            else:
                break
        if due < 0:
            return
        started = time.perf_counter()
        gc.collect(due)
        self.passes += 1
        self.longest_ms = max(self.longest_ms, (time.perf_counter() - started) * 1000.0)
