"""The reject gate of the local pipeline: the per-part line answers the line's PLC.

``PlcGate`` runs the camera's side of the handshake (devices/plc) next to the
session's per-part line (issue 12). A PLC trigger edge is an external trigger
of the line: ``PartGateDecider`` sends it as a :class:`TriggerEvent` (source
``plc:URL``, seq = the handshake's trigger number) through
``Session.external_trigger`` and answers with the :class:`PartDecision` the
line makes for it, the same record the session counts, journals and records
(one decision per part). An edge that finds no part is told at once
(``Session.unmatched_taps``) and answered with error code 2.

Every handshake record goes to the journal's ``plc_parts`` table and the
recording's ``/plc/parts`` channel; handshake problems and a closing summary
to the audit journal.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from edgeconsole.core.errors import EdgeConsoleError
from edgeconsole.core.parts import PartDecision, TriggerEvent
from edgeconsole.devices.plc.handshake import (
    ERROR_DECIDE_FAILED,
    ERROR_LATE,
    ERROR_NO_PART,
    ERROR_NONE,
    GateDecider,
    GateResult,
    GateTrigger,
    PlcEvent,
    percentiles,
)
from edgeconsole.devices.plc.plcmap import PlcMap, load_map
from edgeconsole.devices.plc.service import HandshakeService

if TYPE_CHECKING:
    from edgeconsole.session.session import Session

#: class_id written for each verdict of the sample inspectors; any other verdict is 99.
CLASS_IDS = {"ok": 0, "missing label": 1, "rotated 180": 2, "unreadable": 3}
OTHER_CLASS = 99
#: Decisions kept for a trigger that is no longer waited for (a late decision).
KEEP = 256
#: A decision whose trigger fired this close to the PLC's edge is of the same part.
MATCH_NS = 150_000_000


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
    ``match_ns``), never one already given to another PLC trigger: one decision per
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

    def _same_part(self, stamp_ns: int) -> PartDecision | None:
        """The decision (any trigger) nearest the PLC's edge in time, not yet given."""
        best: PartDecision | None = None
        for d in self._recent:
            gap = abs(d.trigger_ns - stamp_ns)
            if gap > self.match_ns or d.part_id in self._given:
                continue
            if best is None or gap < abs(best.trigger_ns - stamp_ns):
                best = d
        return best

    def decide(self, trigger: GateTrigger) -> GateResult:
        deadline = time.monotonic() + self.wait_s
        with self._cond:
            self._answers.pop(trigger.seq, None)  # a stale answer of an earlier run
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


class PlcGate:
    """The handshake with the line PLC for one session's per-part line."""

    def __init__(
        self,
        url: str,
        map_path: str,
        session: Session,
        *,
        decider: GateDecider | None = None,
        on_event: Callable[[PlcEvent], None] | None = None,
    ) -> None:
        """``decider``: answer with something else than the line (the watcher's armed
        test mode); ``on_event``: also called with every handshake event."""
        self.plc_map: PlcMap = load_map(map_path)
        self.on_event = on_event
        self.session = session
        self.source = f"plc:{url}"
        # The line must answer before the PLC gives up on the part; waiting longer
        # than the ack timeout would only hold the next trigger up.
        wait_s = max(self.plc_map.timing.ack_timeout_ms, self.plc_map.timing.result_budget_ms)
        self.decider = PartGateDecider(session.external_trigger, self.source, wait_s=wait_s / 1e3)
        self.events: deque[PlcEvent] = deque(maxlen=5000)
        self.service = HandshakeService(
            url,
            self.plc_map,
            decider or self.decider,
            on_event=self._event,
            ready=session.line_running if decider is None else None,
        )
        self._attached = False

    @property
    def url(self) -> str:
        return self.service.url

    def start(self) -> None:
        """Connect (errors raised here: wrong address, map, unit id) and serve."""
        self.session.decision_taps.append(self.decider.on_decision)
        self.session.unmatched_taps.append(self.decider.on_unmatched)
        self._attached = True
        try:
            self.service.start()
        except BaseException:
            self._detach()
            raise

    def stop(self) -> None:
        if not self._attached:
            return
        self.service.stop()
        self._detach()
        c = self.service.runner.status(records=0).counters
        self._audit(
            "info",
            f"handshake ended: {c.handed_over}/{c.triggers} parts handed over, "
            f"{c.missing_acks} missing acks, {c.late_results} late, "
            f"{c.not_handed_over} not handed over",
            **asdict(c),
        )

    def _detach(self) -> None:
        self._attached = False
        if self.decider.on_decision in self.session.decision_taps:
            self.session.decision_taps.remove(self.decider.on_decision)
        if self.decider.on_unmatched in self.session.unmatched_taps:
            self.session.unmatched_taps.remove(self.decider.on_unmatched)

    def _audit(self, level: str, text: str, **data: Any) -> None:
        journal = self.session.journal
        if journal is None:
            return
        try:
            journal.audit.log("plc", level, self.url, text, **data)
        except EdgeConsoleError:
            pass  # the journal says it is degraded on its own; the gate goes on

    def _event(self, ev: PlcEvent) -> None:
        self.events.append(ev)
        if self.on_event is not None:
            self.on_event(ev)
        if ev.kind == "signal":
            self.session.record_plc_signal(self.url, ev.name, int(ev.value), ev.t_ns)
        elif ev.kind == "link" and ev.value in ("idle", "down"):
            up = ev.value == "idle"
            self._audit(
                "info" if up else "warning", f"PLC {self.url}: {'connected' if up else ev.text}"
            )
        elif ev.kind == "part":
            rec = ev.value
            self.session.record_plc_part(self.url, rec)
            if rec.get("error") or rec.get("late"):
                self._audit(
                    "warning",
                    f"part {rec.get('counter')}: {rec.get('verdict')} {rec.get('error') or 'late'}",
                    **rec,
                )

    def summary(self) -> dict[str, Any]:
        st = self.service.runner.status(records=10_000)
        r2a = percentiles(r.result_to_ack_ms for r in st.records if r.result_to_ack_ms is not None)
        return {
            "plc": self.url,
            "map": self.plc_map.source,
            "state": st.state,
            "error": st.last_error or None,
            "counters": asdict(st.counters),
            "trigger_to_result_ms": {
                k: st.trigger_to_result_ms.get(k) for k in ("p50", "p99", "max")
            },
            "decision_ms": {k: st.decision_ms.get(k) for k in ("p50", "p99", "max")},
            "result_to_ack_ms": {k: r2a[k] for k in ("p50", "p99", "max")},
            "result_budget_ms": self.plc_map.timing.result_budget_ms,
            "parts": [r.to_json() for r in st.records],
        }
