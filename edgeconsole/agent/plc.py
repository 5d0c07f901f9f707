"""The gateway's reject gate: ``edgeconsole agent --plc URL --plc-map FILE``.

One camera's per-part line (agent/line.py) answers the line PLC's triggers: a
trigger edge goes to that camera's line as an external trigger and the handshake
writes the line's decision of the part (devices/plc/part_gate.py), exactly as
the laptop does. The agent boots whether or not the PLC answers yet: the
handshake keeps retrying (0.2 s .. 2 s) and ``trigger_ready`` stays low until the
camera's line runs. Link changes, problem parts and a closing summary go to the
agent's journal (the console pulls it); ``GET /v2/edgeconsole/plc`` serves the
counters, the trigger -> result percentiles and the latest parts.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from edgeconsole.agent.camera_runner import CameraRunner
from edgeconsole.agent.journal import AgentJournal
from edgeconsole.devices.plc.handshake import PlcEvent
from edgeconsole.devices.plc.part_gate import PartGateDecider
from edgeconsole.devices.plc.plcmap import load_map
from edgeconsole.devices.plc.service import HandshakeService

#: Problem parts written to the journal before it only counts them (a PLC that never
#: acknowledges at 600 parts/min must not fill the journal).
JOURNAL_PROBLEMS = 200


class AgentPlcGate:
    def __init__(
        self, url: str, map_path: str, camera: CameraRunner, journal: AgentJournal
    ) -> None:
        self.map = load_map(map_path)
        self.camera = camera
        self.journal = journal
        self.problems = 0
        timing = self.map.timing
        self.decider = PartGateDecider(
            camera.send_edge,
            f"plc:{url}",
            wait_s=max(timing.ack_timeout_ms, timing.result_budget_ms) / 1e3,
        )
        self.service = HandshakeService(
            url, self.map, self.decider, on_event=self._event, ready=camera.line_ready
        )

    @property
    def url(self) -> str:
        return self.service.url

    def start(self) -> None:
        self.camera.decision_taps.append(self.decider.on_decision)
        self.camera.unmatched_taps.append(self.decider.on_unmatched)
        self.journal.add(
            "plc",
            f"reject gate: camera {self.camera.index} answers PLC {self.url}",
            map=self.map.source,
        )
        self.service.start(wait=False)

    def stop(self) -> None:
        self.service.stop()
        c = self.service.runner.status(records=0, stats=False).counters
        self.journal.add(
            "plc",
            f"reject gate stopped: {c.handed_over}/{c.triggers} parts handed over, "
            f"{c.missing_acks} missing acks, {c.late_results} late, "
            f"{c.not_handed_over} not handed over",
            **asdict(c),
        )

    def _event(self, ev: PlcEvent) -> None:
        if ev.kind == "link" and ev.value in ("idle", "down"):
            text = "connected" if ev.value == "idle" else ev.text
            self.journal.add("plc", f"PLC {self.url}: {text}", state=ev.value)
        elif ev.kind == "part":
            rec = ev.value
            if not (rec.get("error") or rec.get("late")):
                return
            self.problems += 1
            if self.problems <= JOURNAL_PROBLEMS:
                self.journal.add(
                    "plc",
                    f"part {rec.get('counter')}: {rec.get('verdict')} {rec.get('error') or 'late'}",
                    **{k: v for k, v in rec.items() if k != "trigger_ns"},
                )

    def status(self, parts: int = 200) -> dict[str, Any]:
        out = self.service.summary(parts)
        # The camera whose parts are answered, after the map (as the API has shown it).
        return {k: out[k] for k in ("plc", "map")} | {"camera": self.camera.index} | out
