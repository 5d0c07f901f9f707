"""A classical per-part judge and conveyor frames for the decision-path tests.

The judge is real code, not a stand-in: the parts locator of the label inspector
(``find_parts``) and its label-presence check (``label_present``), which tell a
labelled part from a bare one without a model. The decision path under test does
not care which inspector judges.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import cv2
import numpy as np

from edgeconsole.core.frames import Frame, PartVerdict
from edgeconsole.core.parts import Box
from edgeconsole.inference.heads.parts import Part, PartsConfig, find_parts, label_present
from edgeconsole.sources.conveyor import ConveyorScene

CFG = PartsConfig(
    min_area=4000, max_area=400000, belt_threshold=140, edge_margin=1, label_contrast=25
)
PERIOD_NS = 33_333_333


class ClassicalJudge:
    def __init__(self, cfg: PartsConfig = CFG) -> None:
        self.cfg = cfg
        self.decide_calls: list[int] = []

    def locate(self, image: np.ndarray, stamps: dict[str, int] | None = None) -> list[Part]:
        return find_parts(image, self.cfg)

    def decide(
        self, image: np.ndarray, boxes: Sequence[Box], stamps: dict[str, int] | None = None
    ) -> list[PartVerdict]:
        self.decide_calls.append(len(boxes))
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        out = []
        for b in boxes:
            present = label_present(gray, b, self.cfg)
            out.append(PartVerdict(b, present, "ok" if present else "missing label", 1.0))
        return out


class CameraClock:
    """Time as a 30 fps camera run sees it: ``frames`` sets it to each frame's capture
    stamp; every reading after that advances it by ``step_ns`` (the work takes time)."""

    def __init__(self, step_ns: int = 100_000) -> None:
        self.t = 0
        self.step_ns = step_ns

    def __call__(self) -> int:
        self.t += self.step_ns
        return self.t


def frames(
    scene: ConveyorScene,
    indices: Sequence[int] | range,
    t0_ns: int = 1_000_000_000,
    clock: CameraClock | None = None,
) -> Iterator[Frame]:
    """Frames of the scene at these scene indices, stamped as a 30 fps camera would."""
    for i in indices:
        image, truth = scene.render(i)
        if clock is not None:
            clock.t = max(clock.t, t0_ns + i * PERIOD_NS)
        yield Frame(
            index=i,
            image=image,
            captured_ns=t0_ns + i * PERIOD_NS,
            source="test",
            truth=truth,
        )


def truth_id_at(frame: Frame, box: Box) -> int | None:
    """The scene's id of the part under ``box`` (largest overlap), if any."""
    assert frame.truth is not None
    best, best_area = None, 0.0
    for p in frame.truth["parts"]:
        x0, y0, x1, y1 = p["box"]
        w = min(x1, box[2]) - max(x0, box[0])
        h = min(y1, box[3]) - max(y0, box[1])
        if w > 0 and h > 0 and w * h > best_area:
            best, best_area = int(p["id"]), w * h
    return best
