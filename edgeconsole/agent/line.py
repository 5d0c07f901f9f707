"""Per-part QC on the gateway's cameras: one decision per physical part, streamed.

A camera running a per-part model (its description has ``per_part``) decides parts
with the same decision path as the laptop (``inference/line``): every frame is
located and tracked on the camera's thread, each part is decided once when its
trigger fires, and the stream's result message carries ``parts`` (the decisions
made on that frame, ``PartDecision.to_json``) and ``line`` (the trigger and the
decision path's counters). A photo-eye on the cameras' belt (``--photo-eye``)
feeds every camera's line with its edges, and the stream forwards each edge as a
``{"type": "trigger", "camera", "seq", "agent_ns"}`` message.
"""

from __future__ import annotations

from typing import Any

from edgeconsole.core.frames import Frame, InferenceResult, PartVerdict
from edgeconsole.core.parts import TriggerEvent
from edgeconsole.inference.line import LineStep, PartLine, TriggerConfig
from edgeconsole.inference.line.overlay import Totals, line_overlay
from edgeconsole.sources.photo_eye import PhotoEye, eye_for_source

EYE_SOURCE = "agent-photo-eye"


class CameraLine:
    """The per-part line of one camera for one loaded model."""

    def __init__(self, inspector: Any, trigger: TriggerConfig, budget_ms: float | None) -> None:
        self.inspector = inspector
        self.line = PartLine(inspector, trigger, budget_ms=budget_ms)
        self.passed = self.failed = self.missed = self.late = 0

    def step(self, frame: Frame) -> tuple[InferenceResult, LineStep]:
        step = self.line.step(frame)
        for d in step.decisions:
            if d.missed:
                self.missed += 1
            elif d.passed:
                self.passed += 1
            else:
                self.failed += 1
            if d.late:
                self.late += 1
        result = InferenceResult(frame_index=frame.index)
        for p in step.parts:
            done = p.decision
            if done is not None and not done.missed:
                result.parts.append(PartVerdict(p.box, done.passed, done.verdict, done.score))
        totals = Totals(self.passed, self.failed, self.missed, self.late, None, self.line.budget_ms)
        result.overlay = line_overlay(step, totals, self.line.trigger_config.line.axis)
        return result, step

    def describe(self) -> dict[str, Any]:
        return {
            "trigger": self.line.trigger_config.describe(),
            "budget_ms": self.line.budget_ms,
            "counters": self.line.counters.to_json(),
        }


def start_photo_eye(spec: str, cameras: list[Any]) -> PhotoEye:
    """An eye on the belt ``spec`` films: each edge to every camera (and its watchers)."""
    eye = eye_for_source(spec)

    def edge(n: int, t_ns: int) -> None:
        for cam in cameras:
            cam.external_edge(TriggerEvent(t_ns, EYE_SOURCE, n))

    eye.emit = edge
    eye.start()
    return eye
