"""Run the pipeline without a window and summarise it: the CLI's ``run`` and ``demo``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from edgeconsole.core.errors import ConfigError, EdgeConsoleError, SourceError
from edgeconsole.core.frames import STAGES
from edgeconsole.inference.latency import LatencySnapshot
from edgeconsole.inference.line import TriggerConfig
from edgeconsole.journal.journal import Journal
from edgeconsole.session.session import Session
from edgeconsole.session.update import Event

POLL_INTERVAL_S = 0.05


def summarise(
    snapshot: LatencySnapshot,
    *,
    frames: int,
    dropped: int,
    elapsed_s: float,
    detections: int,
    parts_passed: int,
    parts_failed: int,
    model: str,
    source: str,
) -> dict[str, Any]:
    run = snapshot.run

    def pick(name: str, keys: tuple[str, ...]) -> dict[str, float | None]:
        d = run[name].to_json()
        return {k: d[k] for k in keys}

    return {
        "frames": frames,
        "elapsed_s": round(elapsed_s, 3),
        "fps": round(frames / elapsed_s, 2) if elapsed_s > 0 else 0.0,
        "dropped": dropped,
        "first_inference_ms": None
        if snapshot.first_inference_ms is None
        else round(snapshot.first_inference_ms, 3),
        "stages": {s: pick(s, ("p50", "p90", "p99", "max")) for s in (*STAGES, "unaccounted")},
        "e2e": pick("e2e", ("p50", "p90", "p99", "max")),
        "budget_ms": snapshot.budget_ms,
        "over_budget": snapshot.over_budget,
        "detections": detections,
        "parts": {"passed": parts_passed, "failed": parts_failed},
        "model": model,
        "source": source,
    }


def run_headless(
    source: str,
    model: str | Path,
    *,
    frames: int | None = None,
    seconds: float | None = None,
    budget_ms: float | None = None,
    threads: int | None = None,
    realtime: bool = False,
    loop: bool = False,
    open_timeout_s: float = 120.0,
    journal: bool = True,
    record: Path | None = None,
    trust_dir: Path | None = None,
    demo_devices: bool = False,
    demo_plc: bool = False,
    plc: str | None = None,
    plc_map: str | Path | None = None,
    trigger: TriggerConfig | None = None,
    annotate: Path | None = None,
    target: str | None = None,
    token_file: Path | None = None,
) -> tuple[dict[str, Any], list[Event]]:
    """Run until ``frames`` processed, ``seconds`` elapsed or the source ends.

    Raises the first error the pipeline reported (as an EdgeConsoleError).
    ``demo_devices``: also start the demo's virtual serial device (session/demo.py);
    the summary then has ``devices`` (state, telemetry rate, drops, shadow).
    ``plc`` + ``plc_map``: speak the reject-gate handshake with that PLC
    (session/plc_gate.py); the summary then has ``plc``. ``demo_plc``: the demo's
    virtual PLC on the belt clock (session/demo_plc.py; ``source`` must be
    ``DEMO_PLC_SOURCE``), answered the same way.

    A per-part model (DESIGN section 10) adds ``parts`` (one entry per physical part:
    id, verdict, trigger_frame, decision_ms, late, ...), ``decision_ms`` (p50, p90,
    p99, max over the run), ``parts_decided`` and ``line`` (the trigger, missed and
    late counts and the decision path's counters). ``annotate``: write each frame the
    decision path judged, with its overlay, as a PNG into that folder. ``target``
    (``serial://``, ``gateway://``; ``local://`` or None: the laptop): each part's crop is
    decided by the model on that target; the summary then has ``target``.
    """
    from edgeconsole.session.target_line import is_local

    target = None if is_local(target) else target
    session = Session(journal=Journal.open() if journal else None, trust_dir=trust_dir)
    events: list[Event] = []
    gate: Any = None  # session/plc_monitor.py PlcMonitor, role "gate"
    try:
        if plc is not None:
            if plc_map is None:
                raise ConfigError("--plc needs --plc-map", hint="give the PLC map file (.toml)")
            # By default the PLC's edge is the part's trigger; with another trigger the
            # PLC gets the decision of the part that triggered nearest its edge.
            trigger = trigger or TriggerConfig.parse("external")
            realtime = True  # a PLC is a live line: a file is played at its own pace
            # A wrong address, map or unit id is reported before any frame.
            session.start_plc(plc, plc_map, "gate")
            gate = session.plc
        if demo_devices:
            from edgeconsole.session.demo import start_demo_devices

            start_demo_devices(session)
        if demo_plc:
            from edgeconsole.session.demo_plc import start_demo_plc

            start_demo_plc(session)  # the virtual PLC on the belt clock, answered by the line
            realtime = True
            gate = session.plc
        session.start_local(
            source,
            model,
            budget_ms=budget_ms,
            threads=threads,
            realtime=realtime,
            loop=loop,
            max_frames=frames,
            record_to=record,
            trigger=trigger,
            annotate=annotate,
            target=target,
            token_file=token_file,
        )
        deadline = time.monotonic() + open_timeout_s
        started: float | None = None
        last = None
        while True:
            update = session.poll()
            events.extend(update.events)
            last = update.status
            if last.state == "error":
                raise _as_error(last.error or "pipeline failed")
            if last.state != "opening" and started is None:
                # A short file can open, run and end between two polls.
                started = time.monotonic()
                if gate is not None and session.line_summary() is None:
                    raise ConfigError(
                        f"the reject gate needs a per-part model; {model} judges frames",
                        hint="give a bundle or model description with a per_part section "
                        "(the sample label-orientation bundle has one)",
                    )
            if last.state == "stopped" and started is not None:
                break
            if started is None and time.monotonic() > deadline:
                raise SourceError(
                    f"opening took longer than {open_timeout_s:.0f} s", subject=source
                )
            if (
                started is not None
                and seconds is not None
                and time.monotonic() - started >= seconds
            ):
                break
            if started is not None:
                session.wait_until_finished(POLL_INTERVAL_S)
            else:
                session.wait_for_change(POLL_INTERVAL_S)
        elapsed = time.monotonic() - (started or time.monotonic())
        if gate is not None:
            gate.stop()
        session.stop(wait=True)
        recording = session.stop_recording()
        update = session.poll()
        events.extend(update.events)
        status = update.status
        snap = session.stats_snapshot()
        summary = summarise(
            snap,
            frames=status.frames,
            dropped=status.dropped,
            elapsed_s=elapsed,
            detections=status.detections,
            parts_passed=status.parts_passed,
            parts_failed=status.parts_failed,
            model=status.model,
            source=status.source,
        )
        summary["runtime"] = status.runtime  # provider, threads, onnxruntime version
        if target is not None:
            summary["target"] = target
        # A truncated file or skipped images: the figures cover only part of the input,
        # and the summary says so (the CLI exits non-zero on it).
        summary["warnings"] = list(status.input_warnings)
        summary["input_complete"] = status.input_complete
        if recording is not None:
            summary["recording"] = str(recording)
        line = session.line_summary()
        if line is not None:
            summary["parts_decided"] = line["decided"]
            summary["first_decision_ms"] = status.first_decision_ms
            summary["decision_ms"] = line["decision_ms"]
            summary["parts"] = [d.to_json() for d in session.line_decisions()]
            summary["line"] = line
            summary["totals"] = {
                "passed": line["passed"],
                "failed": line["failed"],
                "missed": line["missed"],
                "late": line["late"],
            }
        annotated = session.annotation_summary()
        if annotated is not None:
            summary["annotated"] = annotated
        if status.camera is not None:
            summary["camera"] = status.camera
            trig = status.camera.get("trigger", {})
            if line is not None and trig.get("issued"):
                # Triggers the camera never answered are parts nobody judged.
                summary["line"]["camera_triggers"] = {
                    k: trig.get(k, 0) for k in ("issued", "answered", "missing", "extra")
                }
        if session.demo is not None:
            summary["devices"] = session.demo.summary()["devices"]
        if gate is not None and gate.gate is not None:
            summary["plc"] = gate.gate.summary()
        return summary, events
    finally:
        if gate is not None:
            gate.stop()
        session.close()


def _as_error(message: str) -> EdgeConsoleError:
    return EdgeConsoleError(message)
