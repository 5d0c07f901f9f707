"""Turn a batch of per-part model outputs into one PartVerdict per part.

``ClassJudge``: a classifier's top class per crop, mapped to a verdict
(``per_part.verdicts``); a top score under the head's threshold gives
``per_part.uncertain``. ``TextJudge``: the PP-OCR text detector's probability map
per crop, the text lines it finds mapped back to frame pixels, all of them
classified for orientation in one more batch, and each part judged from the text on
it exactly as the full-frame text-detect head judges (``heads/parts.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from edgeconsole.core.errors import ModelShapeError
from edgeconsole.core.frames import Detection, PartVerdict
from edgeconsole.inference.crops import CropGeometry
from edgeconsole.inference.heads.classify import ClassifyHead
from edgeconsole.inference.heads.orientation import RunFn
from edgeconsole.inference.heads.parts import (
    PartsConfig,
    TextEvidence,
    inside,
    judge,
    label_present,
)
from edgeconsole.inference.heads.text_detect import TextDetectHead
from edgeconsole.inference.partspec import PerPartSpec
from edgeconsole.inference.spec import ModelSpec

Box = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class Crop:
    """One part waiting for the model: its box, the region fed, and where it went."""

    part: Box
    roi: Box
    where: CropGeometry


class CropJudge(Protocol):
    def judge(
        self,
        outputs: dict[str, np.ndarray],
        crops: list[Crop],
        image: np.ndarray,
        gray: np.ndarray,
    ) -> list[PartVerdict]: ...

    def close(self) -> None: ...


def _batch(raw: np.ndarray, n: int, name: str) -> np.ndarray:
    arr = np.asarray(raw)
    if arr.ndim < 1 or arr.shape[0] != n:
        raise ModelShapeError(
            f"output '{name}' has shape {arr.shape}: expected one result per crop ({n})",
            hint="the model must keep the batch axis first",
        )
    return arr


class ClassJudge:
    def __init__(self, spec: ModelSpec, per_part: PerPartSpec) -> None:
        self.head = ClassifyHead(spec)
        self.per_part = per_part

    def judge(
        self,
        outputs: dict[str, np.ndarray],
        crops: list[Crop],
        image: np.ndarray,
        gray: np.ndarray,
    ) -> list[PartVerdict]:
        raw = _batch(outputs[self.head.output], len(crops), self.head.output)
        probs = self.head.probabilities(raw)
        best = probs.argmax(axis=1)
        verdicts = []
        pp = self.per_part
        for i, crop in enumerate(crops):
            k = int(best[i])
            score = float(probs[i, k])
            reason = (
                pp.verdict_for(self.head.labels[k])
                if score >= self.head.threshold
                else pp.uncertain
            )
            verdicts.append(
                PartVerdict(
                    box=crop.part,
                    passed=reason in pp.passing,
                    reason=reason,
                    score=score,
                    roi=crop.roi,
                )
            )
        return verdicts

    def close(self) -> None:
        pass


class TextJudge:
    def __init__(self, spec: ModelSpec, orientation_run: RunFn | None) -> None:
        self.head = TextDetectHead(spec, orientation_run)
        self.cfg = self.head.parts if self.head.parts is not None else PartsConfig()

    def judge(
        self,
        outputs: dict[str, np.ndarray],
        crops: list[Crop],
        image: np.ndarray,
        gray: np.ndarray,
    ) -> list[PartVerdict]:
        head = self.head
        raw = _batch(outputs[head.output], len(crops), head.output)
        if raw.ndim != 4 or raw.shape[1] < 1:
            raise ModelShapeError(
                f"output '{head.output}' must be probability maps (N, 1, H, W), got {raw.shape}"
            )
        per_crop: list[tuple[list[np.ndarray], list[float]]] = []
        for i, crop in enumerate(crops):
            prob = np.asarray(raw[i, 0], dtype=np.float32)
            per_crop.append(
                head.text_regions(prob, crop.where.geometry.input_size, crop.where.to_frame)
            )
        # Orientation of every readable line of every part: one batch.
        strong = [
            (i, j)
            for i, (_, scores) in enumerate(per_crop)
            for j, s in enumerate(scores)
            if s >= head.box_threshold
        ]
        rotated: dict[tuple[int, int], bool] = {}
        if head.orientation is not None and strong:
            found = head.orientation.classify(image, [per_crop[i][0][j] for i, j in strong])
            rotated = {key: o.rotated for key, o in zip(strong, found, strict=True)}
        return [self._verdict(i, crop, per_crop[i], rotated, gray) for i, crop in enumerate(crops)]

    def _verdict(
        self,
        i: int,
        crop: Crop,
        found: tuple[list[np.ndarray], list[float]],
        rotated: dict[tuple[int, int], bool],
        gray: np.ndarray,
    ) -> PartVerdict:
        cfg = self.cfg
        tallest = cfg.max_text_fraction * (crop.part[3] - crop.part[1])
        evidence: list[TextEvidence] = []
        detections: list[Detection] = []
        for j, (quad, score) in enumerate(zip(*found, strict=True)):
            centre = (float(quad[:, 0].mean()), float(quad[:, 1].mean()))
            w = float(np.linalg.norm(quad[0] - quad[1]))
            h = float(np.linalg.norm(quad[0] - quad[3]))
            strong = score >= self.head.box_threshold
            turned = rotated.get((i, j), False)
            if strong:
                poly = tuple((float(x), float(y)) for x, y in quad)
                box = (
                    float(quad[:, 0].min()),
                    float(quad[:, 1].min()),
                    float(quad[:, 0].max()),
                    float(quad[:, 1].max()),
                )
                label = "text 180" if turned else "text"
                detections.append(Detection(box, label, score, kind="text", polygon=poly))
            if inside(crop.part, centre) and min(w, h) <= tallest:
                evidence.append(TextEvidence(centre, min(w, h), w * h, score, turned, strong))
        passed, reason, score = judge(evidence, cfg, label_present(gray, crop.part, cfg))
        return PartVerdict(
            box=crop.part,
            passed=passed,
            reason=reason,
            score=score,
            roi=crop.roi,
            detections=tuple(detections),
        )

    def close(self) -> None:
        self.head.close()
