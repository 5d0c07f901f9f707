"""Text-region head for the PP-OCR detector, chained with orientation and a parts stage.

1. DB post-processing on the probability map (regions in map coordinates).
2. Map to source pixels through the preprocess Geometry.
3. Optional orientation classifier: every region cropped and classified in one run.
4. Optional parts stage: bright parts on the belt, each given a PartVerdict.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from edgeconsole.core.errors import ConfigError, ModelShapeError
from edgeconsole.core.frames import (
    Detection,
    InferenceResult,
    OverlayBanner,
    OverlayBox,
    OverlayItem,
    Part,
    PartVerdict,
)
from edgeconsole.inference.heads.base import HeadContext, get_output, output_name, param
from edgeconsole.inference.heads.db_postprocess import order_quad, regions_from_probability
from edgeconsole.inference.heads.orientation import Orientation, OrientationClassifier, RunFn
from edgeconsole.inference.heads.parts import (
    PartsConfig,
    TextEvidence,
    find_parts,
    inside,
    judge,
    label_present,
)
from edgeconsole.inference.preprocess import as_bgr
from edgeconsole.inference.spec import ModelSpec

Quad = tuple[tuple[float, float], ...]


@dataclass
class _Extras:
    """What the overlay shows beyond the result: faint text and parts at the frame edge."""

    faint: list[Quad] = field(default_factory=list)
    partial: list[Part] = field(default_factory=list)


def _bbox(poly: np.ndarray) -> tuple[float, float, float, float]:
    return (
        float(poly[:, 0].min()),
        float(poly[:, 1].min()),
        float(poly[:, 0].max()),
        float(poly[:, 1].max()),
    )


class TextDetectHead:
    def __init__(self, spec: ModelSpec, orientation_run: RunFn | None = None) -> None:
        p = spec.head.params
        self.output = output_name(spec)
        self.threshold = float(param(p, "threshold", 0.3))
        self.box_threshold = float(param(p, "box_threshold", 0.5))
        self.min_size = int(param(p, "min_size", 3))
        self.unclip_ratio = float(param(p, "unclip_ratio", 1.6))
        self.max_candidates = int(param(p, "max_candidates", 1000))
        self.parts = PartsConfig.parse(p["parts"]) if "parts" in p else None
        self.orientation: OrientationClassifier | None = None
        if spec.head.orientation is not None:
            if orientation_run is None:
                raise ConfigError(
                    "the orientation model is described but was not loaded", subject=spec.name
                )
            self.orientation = OrientationClassifier(spec.head.orientation, orientation_run)
        # Faint regions are only worth keeping when the parts stage can call them unreadable.
        self.min_score = (
            min(self.box_threshold, self.parts.weak_score)
            if self.parts is not None
            else self.box_threshold
        )

    def _probability_map(self, ctx: HeadContext) -> np.ndarray:
        raw = get_output(ctx, self.output)
        if raw.ndim == 4:
            if raw.shape[0] < 1 or raw.shape[1] < 1:
                raise ModelShapeError(f"output '{self.output}' is empty: {raw.shape}")
            prob = raw[0, 0]
        elif raw.ndim == 3:
            prob = raw[0]
        elif raw.ndim == 2:
            prob = raw
        else:
            raise ModelShapeError(
                f"output '{self.output}' must be a probability map "
                f"(N, 1, H, W), got shape {raw.shape}"
            )
        return np.asarray(prob, dtype=np.float32)

    def text_regions(
        self,
        prob: np.ndarray,
        input_size: tuple[int, int],
        to_source: Callable[[np.ndarray], np.ndarray],
    ) -> tuple[list[np.ndarray], list[float]]:
        """Text quads in source pixels (``to_source`` maps model-input points) and scores.

        Regions scoring at least ``min_score`` are kept: faint ones too when the parts
        stage can call them unreadable.
        """
        regions = regions_from_probability(
            prob,
            threshold=self.threshold,
            min_score=self.min_score,
            min_size=self.min_size,
            unclip_ratio=self.unclip_ratio,
            max_candidates=self.max_candidates,
        )
        in_h, in_w = input_size
        map_scale = np.array([in_w / prob.shape[1], in_h / prob.shape[0]])
        quads: list[np.ndarray] = []
        scores: list[float] = []
        for r in regions:
            src = order_quad(to_source(r.quad * map_scale).astype(np.float32))
            w = np.linalg.norm(src[0] - src[1])
            h = np.linalg.norm(src[0] - src[3])
            if w <= 3 or h <= 3:  # as PaddleOCR's filter_tag_det_res
                continue
            quads.append(src)
            scores.append(r.score)
        return quads, scores

    def decode(self, ctx: HeadContext, result: InferenceResult) -> _Extras:
        if ctx.image is None or ctx.geometry is None:
            raise ModelShapeError("a text-detect head needs an image input")
        image = as_bgr(ctx.image)  # crops and the parts stage work on BGR
        prob = self._probability_map(ctx)
        quads, scores = self.text_regions(prob, ctx.geometry.input_size, ctx.geometry.to_source)
        strong = [i for i, s in enumerate(scores) if s >= self.box_threshold]
        orient = (
            self.orientation.classify(image, [quads[i] for i in strong])
            if self.orientation is not None
            else []
        )
        rotated = {strong[j]: o for j, o in enumerate(orient)}
        extras = _Extras()
        for i, quad in enumerate(quads):
            poly: Quad = tuple((float(x), float(y)) for x, y in quad)
            if i not in strong:
                extras.faint.append(poly)
                continue
            o = rotated.get(i)
            label = "text 180" if o is not None and o.rotated else "text"
            result.detections.append(
                Detection(box=_bbox(quad), label=label, score=scores[i], kind="text", polygon=poly)
            )
        if self.parts is not None:
            extras.partial = self._judge_parts(image, quads, scores, rotated, result)
        return extras

    def _judge_parts(
        self,
        image: np.ndarray,
        quads: list[np.ndarray],
        scores: list[float],
        orient: dict[int, Orientation],
        result: InferenceResult,
    ) -> list[Part]:
        assert self.parts is not None
        cfg = self.parts
        evidence = []
        for i, quad in enumerate(quads):
            centre = (float(quad[:, 0].mean()), float(quad[:, 1].mean()))
            w = float(np.linalg.norm(quad[0] - quad[1]))
            h = float(np.linalg.norm(quad[0] - quad[3]))
            o = orient.get(i)
            evidence.append(
                TextEvidence(
                    centre=centre,
                    height=min(w, h),
                    area=w * h,
                    score=scores[i],
                    rotated=bool(o and o.rotated),
                    strong=scores[i] >= self.box_threshold,
                )
            )
        partial = []
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
        for part in find_parts(gray, cfg):
            if not part.complete:
                partial.append(part)
                continue
            tallest = cfg.max_text_fraction * (part.box[3] - part.box[1])
            mine = [e for e in evidence if inside(part.box, e.centre) and e.height <= tallest]
            passed, reason, score = judge(mine, cfg, label_present(gray, part.box, cfg))
            result.parts.append(
                PartVerdict(box=part.box, passed=passed, reason=reason, score=score)
            )
        return partial

    def overlay(self, result: InferenceResult, extras: object = None) -> list[OverlayItem]:
        ex = extras if isinstance(extras, _Extras) else _Extras()
        items: list[OverlayItem] = []
        for part in ex.partial:
            items.append(OverlayBox(box=part.box, role="info", label="partial"))
        for v in result.parts:
            items.append(
                OverlayBox(box=v.box, role="ok" if v.passed else "fail", label=v.reason, thick=True)
            )
        for d in result.detections:
            rotated = d.label.endswith("180")
            items.append(
                OverlayBox(
                    box=d.box,
                    role="warn" if rotated else "info",
                    label="180" if rotated else "",
                    polygon=d.polygon,
                )
            )
        for poly in ex.faint:
            arr = np.array(poly)
            items.append(OverlayBox(box=_bbox(arr), role="warn", polygon=poly))
        if self.parts is not None:
            failed = sum(1 for v in result.parts if not v.passed)
            passed = len(result.parts) - failed
            items.append(
                OverlayBanner(f"PASS {passed} / FAIL {failed}", "fail" if failed else "ok")
            )
        else:
            n_rot = sum(1 for d in result.detections if d.label.endswith("180"))
            text = f"{len(result.detections)} text regions"
            if n_rot:
                text += f", {n_rot} upside down"
            items.append(OverlayBanner(text, "warn" if n_rot else "info"))
        return items

    def close(self) -> None:
        self.orientation = None
