"""One timer at display rate drives the whole window.

The session never signals per sample; this timer calls ``poll()`` about 30
times a second and hands the batch to ``apply`` together with a deadline, so
the work done per tick stays bounded however fast the pipeline runs.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, QTimer

from edgeconsole.core.clock import now_ns

DISPLAY_INTERVAL_MS = 33
TICK_BUDGET_MS = 12.0


class PollLoop(QObject):
    def __init__(
        self,
        tick: Callable[[int], None],
        interval_ms: int = DISPLAY_INTERVAL_MS,
        budget_ms: float = TICK_BUDGET_MS,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._tick = tick
        self.budget_ms = budget_ms
        self.timer = QTimer(self)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._on_timeout)
        self.ticks = 0
        #: Recent tick durations in ms, for the benchmark and the tests.
        self.tick_ms: deque[float] = deque(maxlen=600)

    def start(self) -> None:
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def is_active(self) -> bool:
        return self.timer.isActive()

    def _on_timeout(self) -> None:
        start = now_ns()
        deadline = start + int(self.budget_ms * 1e6)
        try:
            self._tick(deadline)
        finally:
            self.ticks += 1
            self.tick_ms.append((now_ns() - start) / 1e6)
