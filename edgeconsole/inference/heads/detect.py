"""Generic box detector head: rows of ``x0, y0, x1, y1, score, class`` with per-class NMS."""

from __future__ import annotations

import numpy as np

from edgeconsole.core.errors import ConfigError, ModelShapeError
from edgeconsole.core.frames import (
    Detection,
    InferenceResult,
    OverlayBanner,
    OverlayBox,
    OverlayItem,
)
from edgeconsole.inference.heads.base import HeadContext, get_output, output_name, param
from edgeconsole.inference.spec import ModelSpec

FORMATS = ("xyxy_score_class",)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression; returns kept indices, best first."""
    x0, y0, x1, y1 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = np.maximum(0.0, x1 - x0) * np.maximum(0.0, y1 - y0)
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(x1[i], x1[rest]) - np.maximum(x0[i], x0[rest]))
        h = np.maximum(0.0, np.minimum(y1[i], y1[rest]) - np.maximum(y0[i], y0[rest]))
        inter = w * h
        iou = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-12)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


class DetectHead:
    def __init__(self, spec: ModelSpec) -> None:
        p = spec.head.params
        self.labels = spec.head.labels
        self.output = output_name(spec)
        self.threshold = float(param(p, "threshold", 0.5))
        self.iou_threshold = float(param(p, "iou_threshold", 0.5))
        self.format = param(p, "format", "xyxy_score_class")
        if self.format not in FORMATS:
            raise ConfigError(
                f"head.format '{self.format}' is not supported",
                subject=spec.name,
                hint=f"one of {', '.join(FORMATS)}",
            )

    def _label(self, cls: int) -> str:
        return self.labels[cls] if 0 <= cls < len(self.labels) else str(cls)

    def decode(self, ctx: HeadContext, result: InferenceResult) -> None:
        raw = np.asarray(get_output(ctx, self.output), dtype=np.float32)
        rows = raw.reshape(-1, raw.shape[-1]) if raw.ndim >= 2 else raw.reshape(0, 6)
        if rows.shape[-1] != 6:
            raise ModelShapeError(
                f"output '{self.output}' rows have {rows.shape[-1]} values, "
                "expected 6 (x0, y0, x1, y1, score, class)"
            )
        rows = rows[rows[:, 4] >= self.threshold]
        if not len(rows):
            return
        classes = rows[:, 5].astype(np.int64)
        kept: list[int] = []
        for c in np.unique(classes):
            idx = np.flatnonzero(classes == c)
            kept.extend(idx[nms(rows[idx, :4], rows[idx, 4], self.iou_threshold)].tolist())
        kept.sort(key=lambda i: -float(rows[i, 4]))
        for i in kept:
            x0, y0, x1, y1, score, cls = rows[i]
            box = (float(x0), float(y0), float(x1), float(y1))
            if ctx.geometry is not None:
                box = ctx.geometry.box_to_source(box)
            result.detections.append(
                Detection(box=box, label=self._label(int(cls)), score=float(score))
            )

    def overlay(self, result: InferenceResult, extras: object = None) -> list[OverlayItem]:
        items: list[OverlayItem] = [
            OverlayBox(box=d.box, role="info", label=f"{d.label} {d.score:.2f}")
            for d in result.detections
        ]
        items.append(OverlayBanner(text=f"{len(result.detections)} detections", role="info"))
        return items

    def close(self) -> None:
        pass
