"""Commissioning on a moving line: a video of the line, the truth of its parts, a verdict.

    edgeconsole validate TARGET --bundle B --source VIDEO --truth parts.csv --report OUT

Every frame of the video goes through the per-part decision path (locate, track,
trigger, decide the crops on the target), one frame in flight, so each decision
time is the target's own work. Decided parts are matched to the truth (a part
matches within ``tolerance`` frames, ``truth.py``), then judged: per-part
accuracy over the parts the truth lists (a missed part is a wrong one), missed
and extra parts, decision latency p50/p99 against the budget, and the line rate.

``prepare()`` refuses a bad run before the first frame (the truth file, labels the
model never gives, frames past the end of the video, a model that does not decide
parts, a target that is not running the bundle). A target failing mid-run stops
the run there: the result is PARTIAL with the reason, the truth rows after the
last frame read are not scored, and the report says so on top. Thread use as
``ValidationJob``: ``start()`` runs on a worker, ``snapshot()`` from any thread,
``cancel()`` stops after the current frame.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from edgeconsole import __version__
from edgeconsole.commission import metrics as mx
from edgeconsole.commission.background import ValidationRun
from edgeconsole.commission.line_targets import LineTarget, open_line_target
from edgeconsole.commission.model_ref import ModelRef, open_model_ref
from edgeconsole.commission.plc_check import (
    PlcCheck,
    PlcCheckRequest,
    plc_criteria,
    plc_report_json,
)
from edgeconsole.commission.truth import (
    TOLERANCE,
    Match,
    TruthRow,
    load_truth,
    match,
    possible_verdicts,
)
from edgeconsole.core.errors import ConfigError, EdgeConsoleError
from edgeconsole.core.frames import Frame
from edgeconsole.core.parts import PartDecision
from edgeconsole.inference.line import PartLine, TriggerConfig
from edgeconsole.inference.line.state import warm_up

MISSED_CLASS = "(missed)"


@dataclass
class LineValidationRequest:
    target: str
    model: str | Path
    source: str
    truth: str | Path
    trust_dir: str | Path | None = None
    budget_ms: float | None = None  # None: the bundle's latency_budget_ms
    line_rate: float | None = None  # parts per minute
    min_accuracy: float = 0.95
    trigger: TriggerConfig = field(default_factory=TriggerConfig)
    threads: int | None = None
    token_file: str | Path | None = None
    tolerance: int = TOLERANCE
    #: The line PLC's handshake, watched read-only as a criterion (plc_check.py).
    plc: PlcCheckRequest | None = None

    def check(self) -> None:
        for name, v in (("budget-ms", self.budget_ms), ("line-rate", self.line_rate)):
            if v is not None and not (v > 0 and np.isfinite(v)):
                raise ConfigError(f"--{name} must be a positive number, got {v}")
        if not 0.0 <= self.min_accuracy <= 1.0:
            raise ConfigError(f"--min-accuracy must be between 0 and 1, got {self.min_accuracy}")
        if self.trigger.kind != "line":
            raise ConfigError(
                f"a recorded video is judged with the line trigger, not {self.trigger.kind}",
                hint="the truth names the frame each part crosses the line (line:x=...)",
            )


@dataclass
class LineValidationResult:
    request: LineValidationRequest
    model: ModelRef
    target_identity: dict[str, Any]
    truth: list[TruthRow]
    decisions: list[PartDecision]
    match: Match
    frames_read: int
    started: datetime
    finished: datetime
    wall_s: float
    partial: bool
    partial_reason: str
    budget_ms: float | None
    first_decision_ms: float | None
    outside: list[TruthRow] = field(default_factory=list)  # rows past the video's end
    data: dict[str, Any] = field(default_factory=dict)
    plc: dict[str, Any] | None = None  # the watched handshake (plc_check.py), if asked

    @property
    def passed(self) -> bool:
        return bool(self.data.get("verdict") == "PASS")

    def report_body(self, settings: Any, key_fp: str) -> bytes:
        from edgeconsole.commission.line_report import build_line_report_body

        return build_line_report_body(self, settings, key_fp)


class LineValidationJob(ValidationRun):
    thread_name = "line-validation"

    def __init__(self, request: LineValidationRequest) -> None:
        super().__init__(request)
        self.req: LineValidationRequest = request
        self.target: LineTarget | None = None
        self.truth: list[TruthRow] = []
        self.verdicts: tuple[str, ...] = ()
        self.frames_total: int | None = None
        self.frames_read = 0
        self.decisions: list[PartDecision] = []
        self.result: LineValidationResult | None = None
        self._source: Any = None
        self._first_ms: float | None = None
        self.plc: PlcCheck | None = None

    def prepare(self) -> None:
        if self._prepared:
            return
        from edgeconsole.sources.factory import open_source

        self.state = "preparing"
        req = self.req
        self.model = open_model_ref(req.model, req.trust_dir)
        self.verdicts = possible_verdicts(self.model.spec)
        source = open_source(req.source, realtime=False, loop=False)
        source.open()
        try:
            frames = source.describe().get("frames") if hasattr(source, "describe") else None
            self.frames_total = int(frames) if isinstance(frames, int) and frames > 0 else None
            self.truth = load_truth(req.truth, self.verdicts, frames=self.frames_total)
            self.target = open_line_target(
                req.target, self.model, threads=req.threads, token_file=req.token_file
            )
            if req.plc is not None:
                # An unreachable PLC or a map it does not have fails before the run.
                self.plc = PlcCheck(req.plc)
                self.plc.start()
        except BaseException:
            source.close()
            if self.target is not None:
                self.target.close()
            if self.plc is not None:
                self.plc.close()
            raise
        self._source = source
        self._prepared = True

    # ---------------------------------------------------------------- running
    def run(self) -> LineValidationResult:
        self.prepare()
        assert self.model is not None and self.target is not None
        self.state = "running"
        started = datetime.now(UTC)
        t0 = time.perf_counter()
        partial_reason = ""
        line = PartLine(self.target.inspector, self.req.trigger, budget_ms=self.budget_ms)
        try:
            self._first_ms = warm_up(self.target.inspector)
            while True:
                if self._cancel.is_set():
                    partial_reason = "cancelled by the person"
                    break
                try:
                    frame: Frame | None = self._source.read()
                except EdgeConsoleError as exc:
                    partial_reason = (
                        f"the video could not be read past frame {self.frames_read}: {exc}"
                    )
                    break
                if frame is None:
                    break
                try:
                    step = line.step(frame)
                except EdgeConsoleError as exc:
                    partial_reason = f"target failed at frame {frame.index}: {exc}"
                    break
                with self._lock:
                    self.frames_read += 1
                self._add(step.decisions)
            try:
                self._add(line.finish())
            except EdgeConsoleError as exc:
                partial_reason = partial_reason or f"target failed at the end: {exc}"
        finally:
            self._source.close()
            self.target.close()
        plc = None
        if self.plc is not None:
            self.state = "watching the PLC"
            plc = self.plc.finish(cancelled=self._cancel.is_set)
        wall = time.perf_counter() - t0
        # Rows for frames the run never read are not scored: a partial run stopped
        # early, or a video shorter than its truth (listed, and a failed criterion).
        horizon = self.frames_read - (self.req.tolerance if partial_reason else 0)
        truth = [r for r in self.truth if r.frame < horizon]
        outside = [] if partial_reason else [r for r in self.truth if r.frame >= horizon]
        res = LineValidationResult(
            request=self.req,
            model=self.model,
            target_identity=self.target.identity,
            truth=truth,
            decisions=list(self.decisions),
            match=match(self.decisions, truth, self.req.tolerance),
            frames_read=self.frames_read,
            started=started,
            finished=datetime.now(UTC),
            wall_s=wall,
            partial=bool(partial_reason),
            partial_reason=partial_reason,
            budget_ms=self.budget_ms,
            first_decision_ms=self._first_ms,
            outside=outside,
            plc=plc,
        )
        res.data = summarize_line(res, self.verdicts)
        self.result = res
        self.state = "done"
        return res

    def _add(self, decisions: list[PartDecision]) -> None:
        with self._lock:
            self.decisions.extend(decisions)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            decisions = list(self.decisions)
            frames = self.frames_read
        seen = [r for r in self.truth if r.frame < frames - self.req.tolerance]
        m = match(decisions, seen, self.req.tolerance)
        correct = sum(1 for r, d in m.pairs if d.verdict == r.label)
        paired = {r.line: d for r, d in m.pairs}
        records = []
        for i, r in enumerate(seen):
            rec = mx.SampleRecord(i, "", r.label)
            d = paired.get(r.line)
            rec.predicted = MISSED_CLASS if d is None else d.verdict
            rec.e2e_ms = None if d is None else d.decision_ms
            records.append(rec)
        classes = sorted({r.label for r in self.truth} | set(self.verdicts))
        rows, cols, cm = mx.confusion(records, classes)
        edges, counts = mx.histogram(records, self.budget_ms)
        return {
            "kind": "line",
            # The window's progress: frames of the video; scored: the parts seen so far.
            "done": frames,
            "total": self.frames_total or frames,
            "scored": len(seen),
            "unreadable": 0,
            "confusion": {"rows": rows, "cols": cols, "matrix": cm},
            "histogram": {"edges": edges, "counts": counts},
            "state": self.state,
            "error": self.error,
            "frames": frames,
            "frames_total": self.frames_total,
            "truth_parts": len(self.truth),
            "decided": sum(1 for d in decisions if not d.missed),
            "matched": len(m.pairs),
            "correct": correct,
            "missed": len(m.missed),
            "extra": len(m.extra),
            "budget_ms": self.budget_ms,
            "line_rate": self.req.line_rate,
        }


def _records(res: LineValidationResult) -> list[mx.SampleRecord]:
    """One record per truth part (decision latency as e2e), then one per extra part."""
    by_row = {r.line: d for r, d in res.match.pairs}
    out: list[mx.SampleRecord] = []
    for i, r in enumerate(res.truth):
        rec = mx.SampleRecord(i, f"row {r.line} frame {r.frame}", r.label)
        d = by_row.get(r.line)
        if d is None:
            rec.predicted = MISSED_CLASS
        else:
            rec.predicted = d.verdict
            rec.score = d.score
            rec.e2e_ms = d.decision_ms
            rec.stages_ms = {k: v for k, v in d.stages_ms.items() if k != "decide"}
        out.append(rec)
    return out


def summarize_line(res: LineValidationResult, verdicts: tuple[str, ...]) -> dict[str, Any]:
    req = res.request
    records = _records(res)
    classes = sorted({r.label for r in res.truth} | set(verdicts))
    rows, cols, m = mx.confusion(records, classes)
    pc = mx.per_class(rows, cols, m)
    correct = sum(1 for r in records if r.correct)
    total = len(records)
    accuracy = correct / total if total else None
    decided = [d for d in res.decisions if not d.missed]
    timed = [
        mx.SampleRecord(i, "", "", predicted="x", e2e_ms=d.decision_ms, stages_ms=dict(d.stages_ms))
        for i, d in enumerate(decided)
    ]
    lat = mx.latency(timed)
    lat["first_decision_ms"] = res.first_decision_ms
    budget = res.budget_ms
    criteria: list[mx.Criterion] = []
    criteria.append(
        mx.Criterion(
            "per-part accuracy",
            accuracy is not None and accuracy >= req.min_accuracy,
            "no parts" if accuracy is None else f"{accuracy:.1%} ({correct}/{total})",
            f">= {req.min_accuracy:.1%}",
            "-" if accuracy is None else f"{(accuracy - req.min_accuracy) * 100:+.1f} pts",
            note="a missed part counts as wrong",
        )
    )
    mm = res.match
    criteria.append(
        mx.Criterion(
            "missed parts",
            not mm.missed,
            str(len(mm.missed)),
            "0",
            "-" if not mm.missed else f"{len(mm.missed)} too many",
            note=", ".join(f"frame {r.frame}" for r in mm.missed[:8]),
        )
    )
    criteria.append(
        mx.Criterion(
            "extra parts",
            not mm.extra,
            str(len(mm.extra)),
            "0",
            "-" if not mm.extra else f"{len(mm.extra)} too many",
            note=", ".join(f"part {d.part_id} at frame {d.trigger_frame}" for d in mm.extra[:8]),
        )
    )
    e2e = lat.get("e2e")
    if budget is not None:
        criteria.append(
            mx.Criterion(
                "decision p99 vs budget",
                e2e is not None and e2e["p99"] <= budget,
                "no decisions" if e2e is None else f"{e2e['p99']:.2f} ms",
                f"<= {budget:g} ms",
                "-" if e2e is None else f"{budget - e2e['p99']:+.2f} ms",
                note="" if e2e is None else f"p50 {e2e['p50']:.2f} ms, max {e2e['max']:.2f} ms",
            )
        )
    line_text = ""
    if req.line_rate is not None:
        crit, line_text = mx.line_rate_check(lat, req.line_rate, budget)
        criteria.append(crit)
    if res.plc is not None:
        assert req.plc is not None
        criteria.extend(plc_criteria(res.plc, req.plc.min_parts))
    if res.outside:
        criteria.append(
            mx.Criterion(
                "truth inside the video",
                False,
                f"{len(res.outside)} row(s) past frame {res.frames_read - 1}",
                "every row",
                "-",
                note=", ".join(f"row {r.line} frame {r.frame}" for r in res.outside[:8]),
            )
        )
    criteria.append(
        mx.Criterion(
            "run complete",
            not res.partial,
            f"{res.frames_read} frames",
            "the whole video",
            "-",
            note=res.partial_reason,
        )
    )
    verdict = "PARTIAL" if res.partial else ("PASS" if all(c.passed for c in criteria) else "FAIL")
    edges, counts = mx.histogram(timed, budget)
    truth_path = Path(req.truth)
    paired = {r.line: d for r, d in mm.pairs}
    return {
        "format": "edgeconsole-line-commissioning-report",
        "format_version": 1,
        "console_version": __version__,
        "verdict": verdict,
        "partial": res.partial,
        "partial_reason": res.partial_reason,
        "started": res.started.isoformat(timespec="seconds"),
        "finished": res.finished.isoformat(timespec="seconds"),
        "wall_s": round(res.wall_s, 3),
        "target": res.target_identity,
        "bundle": res.model.identity,
        "source": {"spec": req.source, "frames_read": res.frames_read},
        "truth": {
            "file": str(truth_path),
            "sha256": hashlib.sha256(truth_path.read_bytes()).hexdigest(),
            "parts": len(res.truth),
            "tolerance_frames": req.tolerance,
            "outside_video": [{"row": r.line, "frame": r.frame} for r in res.outside],
        },
        "trigger": req.trigger.describe(),
        "thresholds": {
            "budget_ms": budget,
            "line_rate_per_min": req.line_rate,
            "min_accuracy": req.min_accuracy,
        },
        "parts": {
            "truth": len(res.truth),
            "decided": len(decided),
            "matched": len(mm.pairs),
            "correct": correct,
            **mm.to_json(),
        },
        "accuracy": accuracy,
        "per_class": pc,
        "confusion": {"rows": rows, "cols": cols, "matrix": m},
        "latency": lat,
        "histogram": {"edges": edges, "counts": counts},
        "line_rate": line_text,
        "criteria": [c.to_json() for c in criteria],
        "records": [_record_json(r, paired.get(r.line)) for r in res.truth],
        "plc": None if res.plc is None else plc_report_json(res.plc),
    }


def _record_json(r: TruthRow, d: PartDecision | None) -> dict[str, Any]:
    out: dict[str, Any] = {"row": r.line, "frame": r.frame, "truth": r.label}
    if d is None:
        out.update(part_id=None, predicted=MISSED_CLASS)
        return out
    out.update(
        part_id=d.part_id,
        predicted=d.verdict,
        trigger_frame=d.trigger_frame,
        decision_ms=round(d.decision_ms, 3),
        late=d.late,
    )
    return out
