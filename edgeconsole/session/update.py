"""What ``Session.poll()`` hands to the window and the CLI: one batch per call."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    # Annotations only: the window's first paint needs Event and PipelineStatus, not
    # the frame and part types (their dataclasses cost it ~10 ms, issue 15). The
    # session's own names are defined beside the target manager, which imports this.
    import numpy as np

    from edgeconsole.core.frames import Frame, InferenceResult, LatencySample
    from edgeconsole.core.parts import PartDecision
    from edgeconsole.inference.latency import LatencySnapshot
    from edgeconsole.session.cameras import CameraSetupResult
    from edgeconsole.session.device_telemetry import TelemetryBatch
    from edgeconsole.session.plc_monitor import PlcSnapshot
    from edgeconsole.session.targets import JobProgress, TargetView

RunState = Literal["idle", "opening", "running", "reconnecting", "stopping", "stopped", "error"]
Level = Literal["info", "warning", "error"]


@dataclass(frozen=True)
class Event:
    """Something a person should see in the log or a message bar."""

    level: Level
    text: str
    kind: str = "status"  # "status", "source", "model", "pipeline", ...
    wall_time: str = ""


@dataclass
class LiveFrame:
    """The newest processed frame with its result (overlay primitives included)."""

    frame: Frame
    result: InferenceResult | None
    #: Per-part mode: the trigger line as (axis, source pixels); axis 0: vertical at x.
    line: tuple[int, float] | None = None
    #: The frame scaled to the window's view (``Session.set_display_area``), H x W x 4
    #: uint8 B, G, R, 255 (session/display.py); None: no window asked, or not made.
    display: np.ndarray | None = None


@dataclass
class PipelineStatus:
    state: RunState = "idle"
    source: str = ""
    model: str = ""
    fps: float = 0.0
    frames: int = 0
    dropped: int = 0
    budget_ms: float | None = None
    detections: int = 0
    #: Parts, never frames: each physical part counts once (per-part mode), or each
    #: verdict the model gave (frame mode, the gateway's stream).
    parts_passed: int = 0
    parts_failed: int = 0
    error: str | None = None
    mode: Literal["frames", "parts"] = "frames"
    trigger: str = ""  # per-part mode: the trigger ("line:x=0.5", "external", ...)
    parts_decided: int = 0
    parts_missed: int = 0
    parts_late: int = 0
    decision_p99_ms: float | None = None  # rolling, the last few hundred parts
    first_decision_ms: float | None = None  # the warm-up decision at load (held apart)
    #: What runs the model: provider, threads, onnxruntime version (providers.runtime_info).
    runtime: dict[str, Any] = field(default_factory=dict)
    #: An industrial camera's own view (aravis://, pylon://): identity, link counters
    #: (incomplete frames, missing/resent packets, dropped buffers), clock, triggers.
    camera: dict[str, Any] | None = None
    #: What the source said about its input (a truncated file, skipped images).
    input_warnings: list[str] = field(default_factory=list)
    #: False when the source ended early or skipped frames: only part of the input ran.
    input_complete: bool = True
    #: The inference worker (issue 15): pid, restarts, why the last one died; None
    #: when the pipeline runs in the window's process.
    worker: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["input_warnings"] = list(self.input_warnings)
        return out


@dataclass
class Update:
    status: PipelineStatus
    live: LiveFrame | None = None  # None when no new frame since the last poll
    latency: list[LatencySample] = field(default_factory=list)  # new since the last poll
    stats: LatencySnapshot | None = None
    events: list[Event] = field(default_factory=list)
    #: Every device and gateway (TargetView) when any of them changed; None: no change.
    targets: list[TargetView] | None = None
    #: New telemetry per device since the last poll.
    telemetry: list[TelemetryBatch] = field(default_factory=list)
    #: Progress of device jobs (flash, confirm, rollback) that changed since the last poll.
    jobs: list[JobProgress] = field(default_factory=list)
    #: Per-part mode: parts decided (or counted missed) since the last poll.
    parts: list[PartDecision] = field(default_factory=list)
    #: Camera setup results (discover, read, set, save, load) finished since the last poll.
    camera_setup: list[CameraSetupResult] = field(default_factory=list)
    #: The line PLC (session/plc_monitor.py): edges and parts since the last poll and
    #: the running counters; None while no PLC is watched or answered.
    plc: PlcSnapshot | None = None
