"""What the decision path passes around: the judge it calls, the step it returns, and
its per-part bookkeeping (``decider.PartLine`` owns the instances)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from edgeconsole.core.frames import Frame, PartVerdict
from edgeconsole.core.parts import Box, PartDecision, TriggerEvent, TriggerKind
from edgeconsole.inference.line.tracker import Located, Track


def judge_runtime(judge: object) -> tuple[str, int | None]:
    """The execution provider and intra-op thread count of a judge that says
    (``PartInspector.runtime``, ``providers.runtime_info``); ("", None) otherwise."""
    info = getattr(judge, "runtime", None)
    if not isinstance(info, dict):
        return "", None
    provider = info.get("provider")
    threads = info.get("threads")
    if not isinstance(provider, str):
        return "", None
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        threads = None  # "auto": onnxruntime's one per physical core
    return provider, threads


class PartJudge(Protocol):
    """What the per-part inspector offers (``inference.PartInspector``)."""

    def locate(self, image: np.ndarray, stamps: dict[str, int] | None = None) -> Sequence[Located]:
        """Parts on the whole frame, boxes in source pixels, ``complete`` when fully in
        view; stamps ``locate_start``/``locate_end``."""
        ...

    def decide(
        self,
        image: np.ndarray,
        boxes: Sequence[Box],
        stamps: dict[str, int] | None = None,
    ) -> Sequence[PartVerdict]:
        """One verdict per box, in order, judged on the crops (one batch); stamps its
        stages (``crop``, ``preprocess``, ``infer``, ``postprocess``) as pairs."""
        ...


@dataclass(frozen=True, slots=True)
class PartView:
    """A part in the newest frame, for display: where it is and what was decided."""

    id: int
    box: Box
    complete: bool
    estimated: bool
    decision: PartDecision | None
    due: bool  # triggered, waiting to be fully in view


@dataclass(slots=True)
class LineStep:
    frame_index: int
    width: int
    height: int
    line_px: float  # where the trigger line is in this frame (source pixels)
    parts: list[PartView] = field(default_factory=list)
    decisions: list[PartDecision] = field(default_factory=list)
    locate_ms: float = 0.0
    decide_ms: float = 0.0


@dataclass(slots=True)
class Book:
    """Per-track bookkeeping of the decision path."""

    due: bool = False
    kind: TriggerKind = "line"
    trigger_frame: int = -1
    trigger_ns: int = 0
    event: TriggerEvent | None = None
    crossed: bool = False  # external mode: crossed the line (an edge should come)
    queued: bool = False  # waiting for the inspector
    decision: PartDecision | None = None


@dataclass(slots=True)
class Group:
    """Parts of one frame waiting for the inspector (decided on that frame's pixels)."""

    frame: Frame
    tracks: list[Track]  # snapshots at that frame
    books: list[Book]
    view: list[Track]  # every part in view on that frame (snapshots), for display


@dataclass(slots=True)
class Seen:
    """The last frame the decision path saw, kept for an external edge that lands
    between two frames (the nearer frame is judged)."""

    frame: Frame
    tracks: list[Track]
