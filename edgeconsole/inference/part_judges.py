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
    """One model input: the part it belongs to (``group``: its index in the call), the
    part's box, the part's region of interest, and where this crop went in the batch."""

    group: int
    part: Box
    roi: Box
    where: CropGeometry


@dataclass(frozen=True, slots=True)
class Reading:
    """What the model said about one crop: class probabilities, or text regions."""

    crop: Crop
    probs: np.ndarray | None = None
    quads: tuple[np.ndarray, ...] = ()
    scores: tuple[float, ...] = ()


class CropJudge(Protocol):
    """``read`` one batch's outputs (one Reading per crop, in order); then ``verdicts``
    from the readings of every batch of the call, one per part (keyed by group)."""

    def read(
        self, outputs: dict[str, np.ndarray], crops: list[Crop], image: np.ndarray
    ) -> list[Reading]: ...

    def verdicts(
        self, readings: list[Reading], image: np.ndarray, gray: np.ndarray
    ) -> dict[int, PartVerdict]: ...

    def close(self) -> None: ...


def _batch(raw: np.ndarray, n: int, name: str) -> np.ndarray:
    arr = np.asarray(raw)
    if arr.ndim < 1 or arr.shape[0] != n:
        raise ModelShapeError(
            f"output '{name}' has shape {arr.shape}: expected one result per crop ({n})",
            hint="the model must keep the batch axis first",
        )
    return arr


def combine(probs: np.ndarray) -> np.ndarray:
    """Class probabilities of one part from those of its crops (N x C): each crop is
    independent evidence, so their product, normalised. A line that reads the same
    either way up (``LOT 8888``, about 0.5 each way) then costs nothing, while one
    clear line decides."""
    if probs.shape[0] == 1:
        return np.asarray(probs[0], dtype=np.float64)
    logp = np.log(np.clip(probs.astype(np.float64), 1e-6, 1.0)).sum(axis=0)
    e = np.exp(logp - logp.max())
    out: np.ndarray = e / e.sum()
    return out


def _float_box(b: tuple[int, int, int, int]) -> Box:
    return (float(b[0]), float(b[1]), float(b[2]), float(b[3]))


def _groups(readings: list[Reading]) -> dict[int, list[Reading]]:
    out: dict[int, list[Reading]] = {}
    for r in readings:
        out.setdefault(r.crop.group, []).append(r)
    return out


class ClassJudge:
    def __init__(self, spec: ModelSpec, per_part: PerPartSpec) -> None:
        self.head = ClassifyHead(spec)
        self.per_part = per_part
        self.lines = per_part.roi.split == "lines"

    def read(
        self, outputs: dict[str, np.ndarray], crops: list[Crop], image: np.ndarray
    ) -> list[Reading]:
        raw = _batch(outputs[self.head.output], len(crops), self.head.output)
        probs = self.head.probabilities(raw)
        return [Reading(crop, probs=probs[i]) for i, crop in enumerate(crops)]

    def verdicts(
        self, readings: list[Reading], image: np.ndarray, gray: np.ndarray
    ) -> dict[int, PartVerdict]:
        pp = self.per_part
        labels = self.head.labels
        out: dict[int, PartVerdict] = {}
        for group, rs in _groups(readings).items():
            probs = np.stack([r.probs for r in rs if r.probs is not None])
            combined = combine(probs)
            k = int(combined.argmax())
            score = float(combined[k])
            reason = pp.verdict_for(labels[k]) if score >= self.head.threshold else pp.uncertain
            detections = tuple(
                Detection(
                    box=_float_box(r.crop.where.box),
                    label=labels[int(r.probs.argmax())],
                    score=float(r.probs.max()),
                    kind="text" if self.lines else "region",
                )
                for r in rs
                if r.probs is not None
            )
            first = rs[0].crop
            out[group] = PartVerdict(
                box=first.part,
                passed=reason in pp.passing,
                reason=reason,
                score=score,
                roi=first.roi,
                detections=detections if self.lines else (),
            )
        return out

    def close(self) -> None:
        pass


class TextJudge:
    def __init__(self, spec: ModelSpec, orientation_run: RunFn | None) -> None:
        self.head = TextDetectHead(spec, orientation_run)
        self.cfg = self.head.parts if self.head.parts is not None else PartsConfig()

    def read(
        self, outputs: dict[str, np.ndarray], crops: list[Crop], image: np.ndarray
    ) -> list[Reading]:
        head = self.head
        raw = _batch(outputs[head.output], len(crops), head.output)
        if raw.ndim != 4 or raw.shape[1] < 1:
            raise ModelShapeError(
                f"output '{head.output}' must be probability maps (N, 1, H, W), got {raw.shape}"
            )
        readings = []
        for i, crop in enumerate(crops):
            prob = np.asarray(raw[i, 0], dtype=np.float32)
            quads, scores = head.text_regions(
                prob, crop.where.geometry.input_size, crop.where.to_frame
            )
            readings.append(Reading(crop, quads=tuple(quads), scores=tuple(scores)))
        return readings

    def verdicts(
        self, readings: list[Reading], image: np.ndarray, gray: np.ndarray
    ) -> dict[int, PartVerdict]:
        head = self.head
        # Orientation of every readable line of every part: one batch.
        strong = [
            (i, j)
            for i, r in enumerate(readings)
            for j, s in enumerate(r.scores)
            if s >= head.box_threshold
        ]
        rotated: dict[tuple[int, int], bool] = {}
        if head.orientation is not None and strong:
            found = head.orientation.classify(image, [readings[i].quads[j] for i, j in strong])
            rotated = {key: o.rotated for key, o in zip(strong, found, strict=True)}
        return {r.crop.group: self._verdict(i, r, rotated, gray) for i, r in enumerate(readings)}

    def _verdict(
        self,
        i: int,
        reading: Reading,
        rotated: dict[tuple[int, int], bool],
        gray: np.ndarray,
    ) -> PartVerdict:
        cfg = self.cfg
        crop = reading.crop
        tallest = cfg.max_text_fraction * (crop.part[3] - crop.part[1])
        evidence: list[TextEvidence] = []
        detections: list[Detection] = []
        for j, (quad, score) in enumerate(zip(reading.quads, reading.scores, strict=True)):
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
