"""Display work in slices, one per event, each after the window has painted the last.

Qt paints a window in one go: every widget marked dirty since the last paint is
painted in the same event (the backing store's sync). When the poll tick showed a
frame and, in the events right after it, the stage chart, the decision chart and
the stats table were given new data, one sync painted them all: 5-7 ms of the
window's thread in a single event on a 2-core laptop, and a click or a timer waited
that long (issue 15, ``bench_ui_lag.py --events``). Qt posts its paint request at
low priority, after every normal event, so a draw posted with ``singleShot(0)``
always joined the frame's paint.

Here each slice runs from a timer event of its own (timers are dispatched after
posted events, the paint request included), one slice per event: the frame's
paint happens first, then slice 1 and its paint, then slice 2 and its paint...
No single event holds the thread for the sum.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, QTimer

#: Between slices: long enough that the paint a slice asked for is dispatched
#: before the next one, short enough that a 10 Hz chart is never a frame late.
SLICE_GAP_MS = 1


class PaintSlices(QObject):
    """A queue of display steps run one per timer event. A step already waiting is
    not queued twice (a slow machine must not pile up redraws of one chart)."""

    def __init__(self, on_error: Callable[[BaseException], None], parent: QObject | None = None):
        super().__init__(parent)
        self._on_error = on_error
        self._queue: deque[tuple[object, Callable[[], None]]] = deque()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(SLICE_GAP_MS)
        self._timer.timeout.connect(self._run_one)
        #: Steps run so far (tests, benchmarks).
        self.ran = 0

    def post(self, key: object, step: Callable[[], None]) -> None:
        """Run ``step`` in a slice of its own, after the slices already waiting; a
        step with the same ``key`` still waiting is replaced by this one in its place."""
        for i, (k, _old) in enumerate(self._queue):
            if k == key:
                self._queue[i] = (key, step)
                break
        else:
            self._queue.append((key, step))
        if not self._timer.isActive():
            self._timer.start()

    def pending(self) -> int:
        return len(self._queue)

    def clear(self) -> None:
        self._queue.clear()
        self._timer.stop()

    def run_all(self) -> None:
        """Every waiting step now (tests; a window about to be grabbed)."""
        while self._queue:
            self._run_one()

    def _run_one(self) -> None:
        if not self._queue:
            return
        _key, step = self._queue.popleft()
        try:
            step()
        except Exception as exc:  # a display step never takes the window down
            self._on_error(exc)
        finally:
            self.ran += 1
            if self._queue:
                self._timer.start()
