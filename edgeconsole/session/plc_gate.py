"""The reject gate of the local pipeline: ``edgeconsole run --plc URL --plc-map FILE``.

``PlcGate`` runs the camera's side of the handshake (devices/plc) next to the
live pipeline and answers each trigger with the pipeline's own verdict, writes
every handshake event to the journal, and summarises it for ``run --json``.

Deciding: ``FrameGateDecider`` answers a trigger with the first processed frame
captured at or after the trigger's stamp, judging the part nearest the trigger
line (the frame's centre). It is the frame pipeline's verdict, used until the
per-part decision path of issue 12 (one decision per tracked part, external
trigger API) is on main; it is then replaced by an adapter to that API.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import asdict
from typing import Any

from edgeconsole.core.errors import EdgeConsoleError
from edgeconsole.core.frames import Frame, InferenceResult
from edgeconsole.devices.plc.handshake import (
    ERROR_NO_PART,
    GateResult,
    GateTrigger,
    PlcEvent,
)
from edgeconsole.devices.plc.plcmap import PlcMap, load_map
from edgeconsole.devices.plc.service import HandshakeService

#: Classes written as class_id (the label inspector's reasons; anything else is 99).
CLASS_IDS = {"ok": 0, "missing label": 1, "rotated 180": 2, "unreadable": 3}


class FrameGateDecider:
    """Answers a trigger with the verdict of the first frame captured after it."""

    def __init__(self, *, wait_s: float = 1.0) -> None:
        self.wait_s = wait_s
        self._cond = threading.Condition()
        self._results: deque[tuple[Frame, InferenceResult]] = deque(maxlen=64)

    def on_result(self, frame: Frame, result: InferenceResult) -> None:
        """The pipeline's result tap (inference thread)."""
        with self._cond:
            self._results.append((frame, result))
            self._cond.notify_all()

    def decide(self, trigger: GateTrigger) -> GateResult:
        def ready() -> tuple[Frame, InferenceResult] | None:
            for frame, result in self._results:
                if frame.captured_ns >= trigger.stamp_ns:
                    return frame, result
            return None

        with self._cond:
            hit = self._cond.wait_for(ready, timeout=self.wait_s)
        if hit is None:
            return GateResult(
                ok=False,
                error_code=ERROR_NO_PART,
                error=f"no frame processed within {self.wait_s * 1000:.0f} ms of the trigger",
            )
        frame, result = hit
        if not result.parts:
            return GateResult(
                ok=False, error_code=ERROR_NO_PART, error=f"no part in frame {frame.index}"
            )
        width = frame.image.shape[1] if frame.image is not None else 0
        part = min(result.parts, key=lambda p: abs((p.box[0] + p.box[2]) / 2 - width / 2))
        return GateResult(
            ok=part.passed,
            class_id=CLASS_IDS.get(part.reason, 99),
            label=part.reason,
        )


class PlcGate:
    """The handshake with the line PLC, for one pipeline run."""

    def __init__(self, url: str, map_path: str, *, journal: Any = None) -> None:
        self.plc_map: PlcMap = load_map(map_path)
        self.decider = FrameGateDecider()
        self.journal = journal
        self.events: deque[PlcEvent] = deque(maxlen=5000)
        self.service = HandshakeService(url, self.plc_map, self.decider, on_event=self._event)

    def start(self) -> None:
        self.service.start()

    def stop(self) -> None:
        self.service.stop()
        if self.journal is not None:
            c = self.service.runner.status(records=0).counters
            try:
                self.journal.audit.log(
                    "plc",
                    "info",
                    self.service.url,
                    f"handshake ended: {c.handed_over}/{c.triggers} parts handed over, "
                    f"{c.missing_acks} missing acks, {c.late_results} late, "
                    f"{c.not_handed_over} not handed over",
                    **asdict(c),
                )
            except EdgeConsoleError:
                pass

    def _event(self, ev: PlcEvent) -> None:
        self.events.append(ev)
        if self.journal is None:
            return
        try:
            if ev.kind == "link" and ev.value in ("idle", "down"):
                level = "info" if ev.value == "idle" else "warning"
                text = f"PLC {self.service.url}: {'connected' if ev.value == 'idle' else ev.text}"
                self.journal.audit.log("plc", level, self.service.url, text)
            elif ev.kind == "part":
                rec = ev.value
                if rec.get("error") or rec.get("late"):
                    self.journal.audit.log(
                        "plc",
                        "warning",
                        self.service.url,
                        f"part {rec.get('counter')}: {rec.get('verdict')} "
                        f"{rec.get('error') or 'late'}",
                        **rec,
                    )
        except EdgeConsoleError:
            pass  # the journal says it is degraded on its own; the gate goes on

    def summary(self) -> dict[str, Any]:
        st = self.service.runner.status(records=10_000)
        return {
            "plc": self.service.url,
            "map": self.plc_map.source,
            "state": st.state,
            "error": st.last_error or None,
            "counters": asdict(st.counters),
            "trigger_to_result_ms": {
                k: st.trigger_to_result_ms.get(k) for k in ("p50", "p99", "max")
            },
            "decision_ms": {k: st.decision_ms.get(k) for k in ("p50", "p99", "max")},
            "parts": [r.to_json() for r in st.records],
        }
