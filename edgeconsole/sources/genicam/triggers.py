"""Software triggers, and one frame per issued trigger: counted, never assumed.

With the camera in trigger mode every trigger must yield exactly one frame. The
``TriggerLedger`` keeps the triggers issued but not yet answered (in order: a
camera answers triggers in the order it got them) and matches each arriving frame
to the oldest one. A trigger unanswered after ``timeout_s`` is counted missing; a
frame with no trigger waiting is counted as extra (a hardware line fired too, or a
trigger was issued twice). ``SoftwareTriggerPacer`` fires at a chosen rate in
parts per minute on an absolute schedule, so the rate is exact on average.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from edgeconsole.core.clock import now_ns
from edgeconsole.core.errors import ConfigError

#: Parts per minute a software trigger may be asked for (1 per minute .. 100 per second).
MIN_RATE, MAX_RATE = 1.0, 6000.0
#: Seconds between starting the pacer and its first trigger (at most one period).
SETTLE_S = 0.25


@dataclass(frozen=True, slots=True)
class TriggerMatch:
    seq: int
    issued_ns: int


class TriggerLedger:
    def __init__(self, timeout_s: float = 1.0) -> None:
        self.timeout_ns = int(timeout_s * 1e9)
        self._pending: deque[TriggerMatch] = deque()
        self._lock = threading.Lock()
        self._seq = 0
        self.issued = 0
        self.answered = 0
        self.missing = 0
        self.extra = 0
        #: trigger -> frame available, nanoseconds, most recent first out.
        self.latencies_ns: deque[int] = deque(maxlen=10_000)

    def issue(self, t_ns: int | None = None) -> TriggerMatch:
        with self._lock:
            self._seq += 1
            match = TriggerMatch(self._seq, now_ns() if t_ns is None else t_ns)
            self._pending.append(match)
            self.issued += 1
            return match

    def withdraw(self, match: TriggerMatch) -> None:
        """The trigger command itself failed: it was never issued to the camera."""
        with self._lock:
            try:
                self._pending.remove(match)
            except ValueError:
                return
            self.issued -= 1

    def expire(self, now: int | None = None) -> int:
        """Count triggers that waited longer than the timeout as missing; return how many."""
        t = now_ns() if now is None else now
        n = 0
        with self._lock:
            while self._pending and t - self._pending[0].issued_ns > self.timeout_ns:
                self._pending.popleft()
                n += 1
            self.missing += n
        return n

    def match(self, arrived_ns: int) -> TriggerMatch | None:
        """The trigger this frame answers (None: a frame nobody asked for)."""
        self.expire(arrived_ns)
        with self._lock:
            if self._pending and self._pending[0].issued_ns <= arrived_ns:
                m = self._pending.popleft()
                self.answered += 1
                self.latencies_ns.append(arrived_ns - m.issued_ns)
                return m
            self.extra += 1
            return None

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def to_json(self) -> dict[str, int]:
        with self._lock:
            return {
                "issued": self.issued,
                "answered": self.answered,
                "missing": self.missing,
                "extra": self.extra,
                "pending": len(self._pending),
            }


def check_rate(per_minute: float) -> float:
    if not (MIN_RATE <= per_minute <= MAX_RATE) or per_minute != per_minute:
        raise ConfigError(
            f"software trigger rate {per_minute} parts/min is outside {MIN_RATE:g}..{MAX_RATE:g}",
            subject="camera trigger",
        )
    return float(per_minute)


class SoftwareTriggerPacer:
    """Calls ``fire`` at ``per_minute`` on its own thread until stopped.

    A fire that comes late (the camera took long to accept the previous command)
    is fired at once and the schedule keeps its phase; a pacer more than one period
    behind skips ahead rather than bursting, and counts the triggers it skipped.
    """

    def __init__(self, fire: Callable[[], object], per_minute: float) -> None:
        self.per_minute = check_rate(per_minute)
        self.period_ns = int(60e9 / self.per_minute)
        self._fire = fire
        self._stop = threading.Event()
        self.fired = 0
        self.skipped = 0
        self.errors = 0
        self.last_error: str | None = None
        self._thread = threading.Thread(target=self._run, name="camera-trigger", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)

    def _run(self) -> None:
        # A camera that has just started its acquisition may not be ready for a trigger
        # yet (pylon's emulator drops one sent at once): the first fires after a settle.
        if self._stop.wait(min(self.period_ns / 1e9, SETTLE_S)):
            return
        t0 = now_ns()
        n = 0
        while not self._stop.is_set():
            due = t0 + n * self.period_ns
            wait = (due - now_ns()) / 1e9
            if wait > 0 and self._stop.wait(wait):
                return
            behind = now_ns() - due
            if behind > self.period_ns:
                skip = behind // self.period_ns
                self.skipped += int(skip)
                n += int(skip)
                continue
            try:
                self._fire()
                self.fired += 1
            except Exception as exc:  # reported in the source's statistics, never fatal
                self.errors += 1
                self.last_error = str(exc)
            n += 1
