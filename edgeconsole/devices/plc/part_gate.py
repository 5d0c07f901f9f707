"""Answering a PLC trigger with the per-part line's decision of that part.

The bridge between the handshake (``GateDecider``) and the line-rate decision
path (issue 12): a PLC trigger edge is sent to a per-part line as an external
trigger (``TriggerEvent``, source ``plc:URL``, seq = the handshake's trigger
number) and the answer is the line's one decision record of that part. Used by
the laptop's session (session/plc_gate.py) and the gateway agent (agent/plc.py).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable

from edgeconsole.core.parts import PartDecision, TriggerEvent
from edgeconsole.devices.plc.handshake import (
    ERROR_DECIDE_FAILED,
    ERROR_LATE,
    ERROR_NO_PART,
    ERROR_NONE,
    GateResult,
    GateTrigger,
)

#: class_id written for each verdict of the sample inspectors; any other verdict is 99.
CLASS_IDS = {"ok": 0, "missing label": 1, "rotated 180": 2, "unreadable": 3}
OTHER_CLASS = 99
#: Decisions kept for a trigger that is no longer waited for (a late decision).
KEEP = 256
#: A decision whose trigger fired this close to the PLC's edge is of the same part.
MATCH_NS = 150_000_000
#: Once the PLC's pace is known the window is this share of the time between its
#: triggers (half would touch the neighbours), within these bounds.
MATCH_SHARE, MATCH_MIN_NS, MATCH_MAX_NS = 0.45, 20_000_000, 1_000_000_000


def class_id(verdict: str) -> int:
    return CLASS_IDS.get(verdict, OTHER_CLASS)


def gate_result(d: PartDecision) -> GateResult:
    """The line's decision of a part as the handshake's answer."""
    if d.missed:
        return GateResult(
            ok=False,
            part_id=d.part_id,
            label=d.verdict,
            error_code=ERROR_DECIDE_FAILED,
            error=f"part {d.part_id} could not be decided: {d.note}",
        )
    return GateResult(
        ok=d.passed,
        class_id=class_id(d.verdict),
        label=d.verdict,
        part_id=d.part_id,
        decision_ms=d.decision_ms,
        error_code=ERROR_LATE if d.late else ERROR_NONE,
    )


class PartGateDecider:
    """Answers a PLC trigger with the per-part line's decision of that part.

    ``send`` hands the edge to the line (``Session.external_trigger``: False when no
    per-part line runs). ``on_decision`` and ``on_unmatched`` are the session's taps
    (decision thread). ``decide`` runs on the handshake's worker thread, one trigger
    at a time, and waits at most ``wait_s`` for the line.

    With the external trigger the PLC's edge decides the part and the answer is that
    decision. When the edge decides nothing (the line runs on another trigger, or a
    photo-eye's edge for the same part came first), the answer is the decision of the
    part whose own trigger fired nearest in time to the PLC's edge (within
    ``match_ns`` until the PLC's pace is known, then 45% of the time between its
    triggers: a camera that fell behind sees a crossing frames late), never one
    already given to another PLC trigger: one decision per
    part either way.
    """

    def __init__(
        self,
        send: Callable[[TriggerEvent], bool],
        source: str,
        *,
        wait_s: float = 1.0,
        match_ns: int = MATCH_NS,
    ) -> None:
        self.send = send
        self.source = source
        self.wait_s = wait_s
        self.match_ns = match_ns
        self._stamps: deque[int] = deque(maxlen=17)  # the PLC's recent trigger stamps
        self._cond = threading.Condition()
        self._answers: dict[int, PartDecision | str] = {}
        self._recent: deque[PartDecision] = deque(maxlen=KEEP)
        self._given: deque[int] = deque(maxlen=KEEP)  # part ids handed to the PLC

    def on_decision(self, d: PartDecision) -> None:
        with self._cond:
            self._recent.append(d)
            self._cond.notify_all()
        if d.trigger_source == self.source and d.trigger_seq is not None:
            self._put(d.trigger_seq, d)

    def on_unmatched(self, event: TriggerEvent, why: str) -> None:
        if event.source == self.source and event.seq is not None:
            self._put(event.seq, why)

    def _put(self, seq: int, answer: PartDecision | str) -> None:
        with self._cond:
            self._answers[seq] = answer
            while len(self._answers) > KEEP:
                del self._answers[min(self._answers)]
            self._cond.notify_all()

    def _window(self) -> int:
        stamps = list(self._stamps)
        if len(stamps) < 4:
            return self.match_ns
        gaps = sorted(b - a for a, b in itertools.pairwise(stamps) if b > a)
        if not gaps:
            return self.match_ns
        pace = gaps[len(gaps) // 2]
        return int(min(MATCH_MAX_NS, max(MATCH_MIN_NS, MATCH_SHARE * pace)))

    def _same_part(self, stamp_ns: int) -> PartDecision | None:
        """The decision (any trigger) nearest the PLC's edge in time, not yet given."""
        best: PartDecision | None = None
        for d in self._recent:
            gap = abs(d.trigger_ns - stamp_ns)
            if gap > self._window() or d.part_id in self._given:
                continue
            if best is None or gap < abs(best.trigger_ns - stamp_ns):
                best = d
        return best

    def decide(self, trigger: GateTrigger) -> GateResult:
        deadline = time.monotonic() + self.wait_s
        with self._cond:
            self._answers.pop(trigger.seq, None)  # a stale answer of an earlier run
            self._stamps.append(trigger.stamp_ns)
        event = TriggerEvent(trigger.stamp_ns, source=self.source, seq=trigger.seq)
        if not self.send(event):
            return GateResult(
                ok=False,
                error_code=ERROR_DECIDE_FAILED,
                error="no per-part line is running to decide the part",
            )
        with self._cond:
            got = self._cond.wait_for(lambda: trigger.seq in self._answers, self.wait_s)
            answer = self._answers.pop(trigger.seq, None) if got else None
            if isinstance(answer, PartDecision):
                self._given.append(answer.part_id)
                return gate_result(answer)
            # Our edge decided nothing: the same part, decided on its own trigger?
            left = max(0.0, deadline - time.monotonic())
            same = self._cond.wait_for(lambda: self._same_part(trigger.stamp_ns), left)
            if same:
                self._given.append(same.part_id)
                return gate_result(same)
        if answer is None:
            return GateResult(
                ok=False,
                error_code=ERROR_DECIDE_FAILED,
                error=f"the line did not decide the part within {self.wait_s * 1000:.0f} ms",
            )
        return GateResult(ok=False, error_code=ERROR_NO_PART, error=f"no part: {answer}")
