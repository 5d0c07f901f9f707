"""The reject-gate handshake as a commissioning criterion (``validate --plc URL --plc-map F``).

While the validation runs, the line PLC's handshake is watched read-only
(devices/plc/watch.py): the camera being commissioned answers the PLC as it
will in production, and the report says whether it did so for every part and in
time. If the validation ends before ``min_parts`` triggers were seen, watching
goes on (up to ``max_wait_s``) so the figures rest on enough parts.

Criteria: every trigger answered (no missed trigger, no missing ack), trigger ->
results-ready p99 within the map's ``result_budget_ms``, no mismatches (OK and NG
both set, neither, a part counter that jumps).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeconsole.commission import metrics as mx
from edgeconsole.devices.plc.plcmap import load_map
from edgeconsole.devices.plc.service import WatchService

MIN_PARTS = 20
MAX_WAIT_S = 120.0


@dataclass
class PlcCheckRequest:
    url: str
    map_path: str | Path
    min_parts: int = MIN_PARTS
    max_wait_s: float = MAX_WAIT_S


class PlcCheck:
    def __init__(self, req: PlcCheckRequest) -> None:
        self.req = req
        self.map = load_map(req.map_path)  # a bad map is refused before the run
        self.service = WatchService(req.url, self.map)
        self.summary: dict[str, Any] | None = None

    def start(self) -> None:
        """Connect now: an unreachable PLC or a wrong map fails the run before it starts."""
        self.service.start()

    def finish(self, cancelled: Any = None) -> dict[str, Any]:
        """Watch on until ``min_parts`` triggers were seen (at most ``max_wait_s``), stop,
        and return the watcher's summary (also kept in ``summary``)."""
        w = self.service.watcher
        deadline = time.monotonic() + self.req.max_wait_s
        while w.counters.triggers < self.req.min_parts and time.monotonic() < deadline:
            if cancelled is not None and cancelled():
                break
            time.sleep(0.1)  # the line's own pace: parts come when they come
        # The trigger that reached min_parts is usually still being answered: stopping
        # now would count it unanswered (seen in CI: "7/8 answered", 0 missed, 0 no ack).
        # Its handshake ends within the budget and the ack timeout, answered or not.
        t = self.map.timing
        settle = time.monotonic() + (t.result_budget_ms + t.ack_timeout_ms) / 1000 + 1.0
        while w.in_flight and time.monotonic() < settle:
            if cancelled is not None and cancelled():
                break
            time.sleep(0.01)
        self.service.stop()
        self.summary = w.summary()
        return self.summary

    def close(self) -> None:
        self.service.stop()


def plc_criteria(s: dict[str, Any], min_parts: int) -> list[mx.Criterion]:
    c = s["counters"]
    triggers, answered = c["triggers"], c["answered"]
    missed, no_ack = c["missed_triggers"], c["missing_acks"]
    budget = float(s["budget_ms"])
    p99 = s["trigger_to_result_ms"]["p99"]
    unseen = sum(1 for p in s["parts"] if p["outcome"] == "answered_unseen")
    short_acks = c.get("acks_unseen", 0)
    paused = c.get("parts_unseen", 0)
    out = [
        mx.Criterion(
            "PLC: every part answered",
            triggers >= 1 and missed == 0 and no_ack == 0 and answered == triggers,
            f"{answered}/{triggers} answered" if triggers else "no PLC triggers seen",
            "every trigger, acknowledged",
            "-" if triggers == 0 else f"{missed} missed, {no_ack} missing acks",
            note=(f"fewer than {min_parts} triggers seen" if 0 < triggers < min_parts else "")
            + (f"; {unseen} answered between two reads" if unseen else "")
            + (f"; {short_acks} acks shorter than one read" if short_acks else "")
            + (f"; {paused} handed over while the laptop's reads paused" if paused else ""),
        ),
        mx.Criterion(
            "PLC: trigger → result p99",
            p99 is not None and p99 <= budget,
            "no timed parts" if p99 is None else f"{p99:.2f} ms",
            f"<= {budget:g} ms",
            "-" if p99 is None else f"{budget - p99:+.2f} ms",
            note=f"seen from the laptop to ±{s['resolution_ms']:g} ms; {c['late_results']} late",
        ),
        mx.Criterion(
            "PLC: mismatches",
            c["mismatches"] == 0 and triggers >= 1,
            str(c["mismatches"]),
            "0",
            "-" if c["mismatches"] == 0 else f"{c['mismatches']} too many",
            note="; ".join(sorted({p["mismatch"] for p in s["parts"] if p["mismatch"]}))[:300],
        ),
    ]
    return out


def plc_report_json(s: dict[str, Any]) -> dict[str, Any]:
    """What the signed report keeps of the watch (the parts themselves are capped)."""
    return {
        "plc": s["plc"],
        "map": s["map"],
        "resolution_ms": s["resolution_ms"],
        "budget_ms": s["budget_ms"],
        "counters": s["counters"],
        "trigger_to_result_ms": s["trigger_to_result_ms"],
        "result_to_ack_ms": s["result_to_ack_ms"],
        "error": s["error"],
        "parts": s["parts"][-500:],
    }
