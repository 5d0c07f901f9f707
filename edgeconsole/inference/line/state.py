"""The session's view of the per-part line: every decision, its latency, the totals.

Fed from the decision thread (``add``), read by ``Session.poll()`` and the
headless summary. Totals count parts, never frames. Decision latency keeps a
run-long log histogram (constant memory, honest tail) and a rolling window for
the live view, like frame latency does.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from edgeconsole.core.clock import now_ns
from edgeconsole.core.parts import LineCounters, PartDecision
from edgeconsole.inference.latency import LogHistogram

#: Decisions kept for the summary and the window's parts table; a longer run keeps
#: counting (totals, percentiles) but lists only the newest ones.
KEEP_DECISIONS = 100_000
ROLLING = 300


class LineState:
    def __init__(self, budget_ms: float | None, trigger: str) -> None:
        self.budget_ms = budget_ms
        self.trigger = trigger
        self._lock = threading.Lock()
        self._all: deque[PartDecision] = deque(maxlen=KEEP_DECISIONS)
        self._new: list[PartDecision] = []
        self._hist = LogHistogram()
        self._rolling: deque[float] = deque(maxlen=ROLLING)
        self._p99: float | None = None
        self._p99_at = -1  # decided parts when _p99 was computed
        self.passed = 0
        self.failed = 0
        self.missed = 0
        self.late = 0
        self.listed_out = 0  # decisions no longer in the list (still counted)
        self.counters = LineCounters()
        #: What the capture and decision threads ran at ("SCHED_FIFO 10", "normal", ...;
        #: ``LineRunner.scheduling``): the decision times depend on it.
        self.scheduling: dict[str, str] = {}

    def add(self, decisions: list[PartDecision]) -> None:
        with self._lock:
            for d in decisions:
                if len(self._all) == self._all.maxlen:
                    self.listed_out += 1
                self._all.append(d)
                self._new.append(d)
                if d.missed:
                    self.missed += 1
                    continue
                if d.passed:
                    self.passed += 1
                else:
                    self.failed += 1
                if d.late:
                    self.late += 1
                self._hist.add(d.decision_ms)
                self._rolling.append(d.decision_ms)

    def set_counters(self, counters: LineCounters) -> None:
        with self._lock:
            self.counters = LineCounters(**counters.to_json())

    def take_new(self) -> list[PartDecision]:
        with self._lock:
            out, self._new = self._new, []
            return out

    def decisions(self) -> list[PartDecision]:
        with self._lock:
            return list(self._all)

    @property
    def decided(self) -> int:
        return self.passed + self.failed

    def percentiles(self) -> dict[str, float | None]:
        """Decision latency over the whole run (ms): p50, p90, p99, max."""
        with self._lock:
            h = self._hist

            def r(v: float | None) -> float | None:
                return None if v is None else round(v, 3)

            return {
                "p50": r(h.percentile(50)),
                "p90": r(h.percentile(90)),
                "p99": r(h.percentile(99)),
                "max": r(None if h.n == 0 else h.max),
            }

    def rolling_p99(self) -> float | None:
        with self._lock:
            if not self._rolling:
                return None
            # Asked for with every frame the window shows (its banner), parts come a few
            # times a second: computed again only when a part was decided since.
            decided = self.passed + self.failed
            if self._p99_at == decided:
                return self._p99
            import numpy as np  # at the first decision: the window paints before numpy

            arr = np.fromiter(self._rolling, dtype=np.float64, count=len(self._rolling))
            self._p99 = float(np.percentile(arr, 99, method="higher"))
            self._p99_at = decided
            return self._p99

    def summary(self) -> dict[str, Any]:
        return {
            "trigger": self.trigger,
            "budget_ms": self.budget_ms,
            "decided": self.decided,
            "passed": self.passed,
            "failed": self.failed,
            "missed": self.missed,
            "late": self.late,
            "decision_ms": self.percentiles(),
            "counters": self.counters.to_json(),
            **({"scheduling": dict(self.scheduling)} if self.scheduling else {}),
        }


def warm_up(inspector: Any) -> float:
    """Run the inspector before the line starts, as a QC station does, so the first
    real part does not pay for onnxruntime's first run (graph set-up, arena
    allocation: ten times a normal decision). The picture is a generic labelled part:
    a light box with a white label and two lines of dark print, so a label finder
    finds a label and a text model finds text. Returns how long that took (ms): the
    first decision, reported apart like the first inference of a frame model.

    Then, untimed, a bare part beside it (no label): a verdict without the model (a
    missing label) takes other code, whose first run cost 13-14 ms here (numpy's
    median imports numpy.ma on first use); untouched, the line's first part without a
    label paid it, a late decision in every run."""
    import cv2
    import numpy as np

    image = np.full((240, 800, 3), 34, np.uint8)
    cv2.rectangle(image, (40, 30), (360, 210), (196, 200, 204), cv2.FILLED)
    cv2.rectangle(image, (90, 70), (310, 170), (240, 242, 242), cv2.FILLED)
    for y, text in ((108, "LOT 4821-K"), (150, "EXP 2027-05")):
        cv2.putText(image, text, (104, y), cv2.FONT_HERSHEY_DUPLEX, 0.9, (28, 24, 22), 2)
    cv2.rectangle(image, (440, 30), (760, 210), (196, 200, 204), cv2.FILLED)
    t0 = now_ns()
    for _ in range(2):
        inspector.decide(image, [(40.0, 30.0, 360.0, 210.0)], {})
    took = (now_ns() - t0) / 1e6
    for _ in range(2):
        inspector.decide(image, [(440.0, 30.0, 760.0, 210.0)], {})
    return took
