"""What flows through the live pipeline: frames, stage stamps, results, overlays."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # only annotations here: the window paints before numpy loads
    import numpy as np

#: Pipeline stages in order. ``capture`` is the time the source spent producing
#: the frame; the rest are measured around the work on the inference thread.
STAGES: tuple[str, ...] = ("capture", "preprocess", "infer", "postprocess", "overlay")

#: Stages only some runs have: ``network`` (a gateway's stream: agent to console),
#: ``handoff`` (a pipeline in a worker process: the worker's end of a frame to the
#: window's process receiving it). Kept out of ``STAGES`` so the journal's fixed stage
#: columns stay as they are.
OPTIONAL_STAGES: tuple[str, ...] = ("network", "handoff")

#: Semantic roles for overlay colours; the UI and the image renderer map them
#: to their own palettes so that both stay consistent.
Role = Literal["ok", "fail", "warn", "info", "text"]


@dataclass(slots=True, frozen=True)
class CameraStamp:
    """What an industrial camera said about a frame, beside our own stamps."""

    frame_id: int  # the camera's block id (gaps mean frames lost on the link)
    camera_ns: int | None  # the camera's own timestamp (its clock), None: it gave none
    #: How ``Frame.capture_started_ns`` was placed: "latched" / "estimated" (camera
    #: clock mapped onto ours), "trigger" (the software trigger's stamp), "arrival".
    clock: str
    trigger_seq: int | None = None  # the software trigger this frame answers
    trigger_ns: int | None = None  # when that trigger was issued (monotonic)


@dataclass(slots=True)
class Frame:
    """One image from a source, stamped where it entered the program."""

    index: int
    image: np.ndarray  # H x W x 3 uint8 BGR, or H x W uint8 grey (monochrome cameras)
    captured_ns: int  # monotonic clock (core.clock.now_ns) when the frame was complete
    source: str
    capture_started_ns: int | None = None
    #: Ground truth a synthetic source knows (for tests and validation), else None.
    truth: dict[str, Any] | None = None
    #: Named monotonic stamps added as the frame moves on ("preprocessed", ...).
    stamps: dict[str, int] = field(default_factory=dict)
    #: Industrial cameras (aravis://, pylon://): the camera's own frame id and clock.
    camera: CameraStamp | None = None


@dataclass(slots=True, frozen=True)
class Detection:
    """A region the model found. Coordinates are in source-image pixels."""

    box: tuple[float, float, float, float]  # x0, y0, x1, y1
    label: str
    score: float
    kind: str = "object"  # "text", "part", "object"
    polygon: tuple[tuple[float, float], ...] | None = None


@dataclass(slots=True, frozen=True)
class Classification:
    label: str
    score: float
    topk: tuple[tuple[str, float], ...] = ()


@dataclass(slots=True, frozen=True)
class AnomalyScore:
    score: float
    threshold: float

    @property
    def is_anomaly(self) -> bool:
        return self.score > self.threshold


@dataclass(slots=True, frozen=True)
class Part:
    """A part found on a frame by a cheap locator, before any model has looked at it."""

    box: tuple[float, float, float, float]  # x0, y0, x1, y1, source pixels
    complete: bool  # False when the part touches the frame edge (entering or leaving)

    @property
    def centre(self) -> tuple[float, float]:
        return ((self.box[0] + self.box[2]) / 2.0, (self.box[1] + self.box[3]) / 2.0)


@dataclass(slots=True, frozen=True)
class PartVerdict:
    """Pass/fail for one inspected part (e.g. a labelled item on a conveyor)."""

    box: tuple[float, float, float, float]
    passed: bool
    reason: str  # "ok", "missing label", "rotated 180", "unreadable"
    score: float = 1.0
    #: The region of the part the model looked at (e.g. its label), source pixels.
    roi: tuple[float, float, float, float] | None = None
    #: What the model found inside the region (text lines), source pixels.
    detections: tuple[Detection, ...] = ()


@dataclass(slots=True, frozen=True)
class OverlayBox:
    box: tuple[float, float, float, float]
    role: Role
    label: str = ""
    polygon: tuple[tuple[float, float], ...] | None = None
    thick: bool = False


@dataclass(slots=True, frozen=True)
class OverlayBanner:
    """A line of text pinned to the top of the view (classification, anomaly, summary)."""

    text: str
    role: Role


OverlayItem = OverlayBox | OverlayBanner


@dataclass(slots=True)
class InferenceResult:
    frame_index: int
    detections: list[Detection] = field(default_factory=list)
    classification: Classification | None = None
    anomaly: AnomalyScore | None = None
    parts: list[PartVerdict] = field(default_factory=list)
    overlay: list[OverlayItem] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"detections": len(self.detections)}
        if self.classification is not None:
            out["label"] = self.classification.label
            out["score"] = round(self.classification.score, 4)
        if self.anomaly is not None:
            out["anomaly_score"] = round(self.anomaly.score, 6)
            out["anomaly"] = self.anomaly.is_anomaly
        if self.parts:
            out["parts"] = len(self.parts)
            out["parts_failed"] = sum(1 for p in self.parts if not p.passed)
        return out


@dataclass(slots=True, frozen=True)
class LatencySample:
    """Per-frame stage times in milliseconds.

    ``e2e_ms`` runs from capture start (or capture end when the source cannot
    say when it started) to the end of the last stage, or to ``shown`` once the
    window displayed it. ``unaccounted_ms`` is derived, never given: e2e minus the
    sum of the stages (queueing, hand-off and anything else nobody measured), so
    every producer (local pipeline, worker, gateway stream, recordings) agrees.
    Frame stamps become a sample through :meth:`from_stamps`.
    """

    frame_index: int
    stages: dict[str, float]
    e2e_ms: float
    first_inference: bool = False
    unaccounted_ms: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "unaccounted_ms", max(0.0, self.e2e_ms - sum(self.stages.values()))
        )

    @classmethod
    def from_stamps(
        cls, frame_index: int, stamps: dict[str, int], *, first: bool = False
    ) -> LatencySample:
        """The sample of a frame's monotonic stamps (nanoseconds).

        Expected stamps: ``capture_start`` (optional), ``captured``, then for each
        processing stage a ``<stage>_start`` and ``<stage>_end`` pair; ``shown`` is
        optional and extends end-to-end to the moment of display.
        """
        stages: dict[str, float] = {}
        start = stamps.get("capture_start", stamps["captured"])
        if "capture_start" in stamps:
            stages["capture"] = (stamps["captured"] - stamps["capture_start"]) / 1e6
        for name in (*STAGES[1:], *OPTIONAL_STAGES):
            a, b = stamps.get(f"{name}_start"), stamps.get(f"{name}_end")
            if a is not None and b is not None:
                stages[name] = (b - a) / 1e6
        end_candidates = [v for k, v in stamps.items() if k.endswith("_end")]
        end = stamps.get("shown", max(end_candidates) if end_candidates else stamps["captured"])
        return cls(frame_index, stages, (end - start) / 1e6, first_inference=first)
