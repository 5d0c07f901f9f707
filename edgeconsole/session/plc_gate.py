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

from collections import deque
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from edgeconsole.core.errors import EdgeConsoleError
from edgeconsole.devices.plc.handshake import GateDecider, PlcEvent
from edgeconsole.devices.plc.part_gate import PartGateDecider
from edgeconsole.devices.plc.plcmap import PlcMap, load_map
from edgeconsole.devices.plc.service import HandshakeService

if TYPE_CHECKING:
    from edgeconsole.session.session import Session


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
        c = self.service.runner.status(records=0, stats=False).counters
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
        return self.service.summary(10_000)
