"""The per-part line as the session's callers see it: trigger, decisions, figures, taps.

The line itself runs in a runner (session/line_runner.py, or the inference worker);
its counted state is ``SessionState.line`` (inference/line/state.py LineState). This
object reads it, changes the trigger of a running line, feeds external edges to it,
and calls the taps (the PLC handshake) with every part decided or unmatched.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from edgeconsole.core.frames import InferenceResult, PartVerdict
from edgeconsole.core.parts import PartDecision, TriggerEvent
from edgeconsole.inference.line import TriggerConfig
from edgeconsole.session.run_state import SessionState

if TYPE_CHECKING:
    from edgeconsole.inference.line import LineStep


class LineAccess:
    """The session's per-part line: read, steered and tapped from any thread."""

    def __init__(self, state: SessionState) -> None:
        self._s = state
        #: Per-part mode: called with every part decided or counted missed (decision
        #: thread; must be quick). With ``trigger`` external, ``external_trigger(event)``
        #: decides the part at the line and the decision carries the event's source and
        #: seq: the PLC handshake (issue 16) answers its trigger from it.
        self.decision_taps: list[Callable[[PartDecision], None]] = []
        #: Per-part mode: an external edge that decided no part, and why (decision
        #: thread, or the caller's for a flood): the PLC gate answers at once.
        self.unmatched_taps: list[Callable[[TriggerEvent, str], None]] = []

    def tap(self, decision: PartDecision) -> None:
        for tap in self.decision_taps:
            tap(decision)

    def on_unmatched(self, event: TriggerEvent, why: str) -> None:
        for tap in self.unmatched_taps:
            tap(event, why)

    def result(self, step: LineStep) -> InferenceResult:
        """The step as a result with its overlay (display, recordings)."""
        from edgeconsole.inference.line.overlay import Totals, line_overlay

        line = self._s.line
        totals = Totals()
        if line is not None:
            totals = Totals(
                passed=line.passed,
                failed=line.failed,
                missed=line.missed,
                late=line.late,
                p99_ms=line.rolling_p99(),
                budget_ms=line.budget_ms,
            )
        result = InferenceResult(frame_index=step.frame_index)
        for p in step.parts:
            d = p.decision
            if d is not None and not d.missed:
                result.parts.append(PartVerdict(p.box, d.passed, d.verdict, d.score))
        result.overlay = line_overlay(step, totals, self._s.trigger.line.axis)
        return result

    def set_trigger(self, trigger: TriggerConfig) -> None:
        """See ``Session.set_trigger``."""
        s = self._s
        with s.lock:
            s.trigger = trigger
            runner = s.runner
            s.status.trigger = trigger.describe()
            if s.line is not None:
                s.line.trigger = trigger.describe()
        if runner is not None:
            runner.set_trigger(trigger)

    def running(self) -> bool:
        """See ``Session.line_running``."""
        with self._s.lock:
            runner, state = self._s.runner, self._s.status.state
        return (
            runner is not None and runner.per_part and state == "running" and runner.processed > 0
        )

    def external_trigger(self, event: TriggerEvent) -> bool:
        """See ``Session.external_trigger``."""
        with self._s.lock:
            runner = self._s.runner
        return runner is not None and runner.trigger(event)

    def summary(self) -> dict[str, Any] | None:
        """The per-part figures of the current (or last) run; None in frame mode."""
        with self._s.lock:
            line = self._s.line
            runner = self._s.runner
        if line is None:
            return None
        counters = None if runner is None else runner.line_counters()
        if counters is not None:
            line.set_counters(counters)
        return line.summary()

    def decisions(self) -> list[PartDecision]:
        with self._s.lock:
            line = self._s.line
        return [] if line is None else line.decisions()

    def annotation_summary(self) -> dict[str, Any] | None:
        """``--annotate``: what was written (call after the run stopped)."""
        annotator = self._s.annotator
        if annotator is None:
            return None
        annotator.close()
        return annotator.summary()
