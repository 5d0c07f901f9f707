"""What every runner produces, counted in one place (session/runner.py says what it is).

Local, worker, gateway-stream and remote runners hand their outputs to a
``GenerationSink``: the outputs of one run (a generation of ``SessionState``); a
stale runner's outputs, after a stop or a restart, are ignored. ``RunnerOutputs``
files them into the shared state, the live frames, the recording, the journal, the
annotator and the line's taps. It runs on the runners' threads: it stores references
and enqueues, never draws or blocks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeconsole.core.clock import now_ns
from edgeconsole.core.errors import EdgeConsoleError
from edgeconsole.core.parts import LineCounters, PartDecision
from edgeconsole.inference.line.state import LineState
from edgeconsole.session.line_access import LineAccess
from edgeconsole.session.run_state import SessionState
from edgeconsole.session.runner import RunnerOutput


class RunnerOutputs:
    """The session's side of every runner's sink."""

    def __init__(self, state: SessionState, line: LineAccess) -> None:
        self._s = state
        self._line = line

    def sink(self, gen: int, target: str) -> GenerationSink:
        """The sink of the run ``gen`` (its outputs count as ``target``'s)."""
        return GenerationSink(self, gen, target)

    def output(self, gen: int, target: str, out: RunnerOutput) -> None:
        """Everything any runner produced, counted here and only here."""
        s = self._s
        with s.lock:
            if gen != s.generation:
                return
            if s.line is None and (out.line is not None or out.decisions):
                # A gateway camera decides parts itself: count its decisions here
                # (parts, never frames), with its decision times and its line's counters.
                budget = out.line.get("budget_ms") if out.line else None
                trigger = str(out.line.get("trigger", "")) if out.line else ""
                s.line = LineState(budget if isinstance(budget, float | int) else None, trigger)
                s.status.mode = "parts"
                s.status.trigger = trigger
            if out.line is not None and s.line is not None:
                s.line.set_counters(LineCounters.from_json(out.line.get("counters")))
            sample, result = out.sample, out.result
            if sample is not None:
                s.frames.add_sample(sample, out.done_ns or now_ns())
                if result is not None:  # a result is counted with its sample, once
                    s.status.detections += len(result.detections)
                    for part in result.parts:
                        if part.passed:
                            s.status.parts_passed += 1
                        else:
                            s.status.parts_failed += 1
            if out.frame is not None:
                s.frames.show(out.frame, result, out.step)
            recorder = s.recorder
            journal = s.journal
            annotator = s.annotator
        if recorder is not None:  # only enqueues
            if out.frame is not None:
                shown = result if out.step is None else self._line.result(out.step)
                recorder.on_result(out.frame, shown, sample)
                if out.frame.camera is not None:
                    recorder.write_camera_frame(out.frame)
            elif sample is not None:  # a result whose frame may follow (or not: rate-capped)
                recorder.write_latency(sample)
        if journal is not None and sample is not None:  # both only enqueue
            if result is not None:
                journal.telemetry.add_result(target, result)
            journal.telemetry.add_latency(target, sample)
        if out.judged is not None and annotator is not None:
            annotator.put(*out.judged)
        if out.decisions:
            self.decisions(gen, out.decisions, target)

    def decisions(self, gen: int, decisions: list[PartDecision], target: str) -> None:
        s = self._s
        with s.lock:
            if gen != s.generation or s.line is None:
                return
            line = s.line
            line.add(decisions)
            s.status.parts_passed = line.passed
            s.status.parts_failed = line.failed
            s.status.parts_missed = line.missed
            s.status.parts_late = line.late
            recorder = s.recorder
            journal = s.journal
        for d in decisions:
            if recorder is not None:
                recorder.write_part(d)
            if journal is not None:
                journal.telemetry.add_part(target, d)
            self._line.tap(d)

    def error(self, gen: int, where: str, error: Exception) -> None:
        message = str(error) if isinstance(error, EdgeConsoleError) else f"{where}: {error!r}"
        self._s.fail(gen, message)

    def end(self, gen: int, reason: str) -> None:
        s = self._s
        with s.lock:
            if gen != s.generation:
                return
            if s.status.state in ("running", "reconnecting"):
                s.status.state = "stopped"
            runner = s.runner
            warnings, complete = (
                source_warnings(runner.source) if runner is not None else ([], True)
            )
            s.status.input_warnings = warnings
            s.status.input_complete = complete
            where = s.status.source
        if reason not in ("stopped",):
            s.event("info", f"pipeline ended: {reason}", "pipeline")
        for text in warnings:
            s.event("warning", f"{where}: {text}", "source")

    def model(self, gen: int, text: str) -> None:
        with self._s.lock:
            if gen != self._s.generation:
                return
            self._s.status.model = f"{text} (on the gateway)"

    def notice(self, gen: int, level: str, text: str) -> None:
        with self._s.lock:
            if gen != self._s.generation:
                return
        self._s.event(
            "error" if level == "error" else "warning" if level == "warning" else "info",
            text,
            "worker",
        )


class GenerationSink:
    """A runner's outputs into the session, for one generation (a stale runner's
    outputs, after a stop or a restart, are ignored)."""

    def __init__(self, outputs: RunnerOutputs, gen: int, target: str) -> None:
        self._outputs = outputs
        self._gen = gen
        self._target = target

    def output(self, out: RunnerOutput) -> None:
        self._outputs.output(self._gen, self._target, out)

    def error(self, where: str, error: Exception) -> None:
        self._outputs.error(self._gen, where, error)

    def end(self, reason: str) -> None:
        self._outputs.end(self._gen, reason)

    def model(self, text: str) -> None:
        self._outputs.model(self._gen, text)

    def notice(self, level: str, text: str) -> None:
        self._outputs.notice(self._gen, level, text)


def source_warnings(source: Any) -> tuple[list[str], bool]:
    """What a finished source says about its input, and whether all of it ran."""
    warnings = [str(w) for w in getattr(source, "warnings", None) or []]
    complete = not getattr(source, "incomplete", False)
    skipped = getattr(source, "skipped", None) or []
    if skipped:
        names = ", ".join(Path(p).name for p in skipped[:3])
        more = f" and {len(skipped) - 3} more" if len(skipped) > 3 else ""
        warnings.append(f"{len(skipped)} unreadable image(s) skipped: {names}{more}")
        complete = False
    return warnings, complete
