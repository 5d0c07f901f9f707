"""Inference results as JSON for the stream (the console rebuilds core dataclasses)."""

from __future__ import annotations

from typing import Any

from edgeconsole.core.frames import InferenceResult, OverlayBanner, OverlayBox

#: (stage, start stamp, end stamp) as the inference engine writes them.
STAGE_STAMPS: tuple[tuple[str, str, str], ...] = (
    ("preprocess", "preprocess_start", "preprocess_end"),
    ("infer", "infer_start", "infer_end"),
    ("postprocess", "postprocess_start", "postprocess_end"),
    ("overlay", "overlay_start", "overlay_end"),
)


def _r(v: float) -> float:
    return round(float(v), 4)


def result_to_json(result: InferenceResult) -> dict[str, Any]:
    out: dict[str, Any] = {
        "frame_index": result.frame_index,
        "detections": [
            {
                "box": [_r(v) for v in d.box],
                "label": d.label,
                "score": _r(d.score),
                "kind": d.kind,
                "polygon": None if d.polygon is None else [[_r(x), _r(y)] for x, y in d.polygon],
            }
            for d in result.detections
        ],
        "classification": None,
        "anomaly": None,
        "parts": [
            {
                "box": [_r(v) for v in p.box],
                "passed": p.passed,
                "reason": p.reason,
                "score": _r(p.score),
            }
            for p in result.parts
        ],
        "overlay": [],
        "summary": result.summary(),
    }
    if result.classification is not None:
        c = result.classification
        out["classification"] = {
            "label": c.label,
            "score": _r(c.score),
            "topk": [[k, _r(v)] for k, v in c.topk],
        }
    if result.anomaly is not None:
        out["anomaly"] = {
            "score": _r(result.anomaly.score),
            "threshold": _r(result.anomaly.threshold),
        }
    for item in result.overlay:
        if isinstance(item, OverlayBox):
            out["overlay"].append(
                {
                    "type": "box",
                    "box": [_r(v) for v in item.box],
                    "role": item.role,
                    "label": item.label,
                    "thick": item.thick,
                    "polygon": None
                    if item.polygon is None
                    else [[_r(x), _r(y)] for x, y in item.polygon],
                }
            )
        elif isinstance(item, OverlayBanner):
            out["overlay"].append({"type": "banner", "text": item.text, "role": item.role})
    return out


def stage_times_ms(
    stamps: dict[str, int], capture_started_ns: int | None, captured_ns: int
) -> dict[str, float]:
    stages: dict[str, float] = {}
    if capture_started_ns is not None:
        stages["capture"] = _r((captured_ns - capture_started_ns) / 1e6)
    for name, a, b in STAGE_STAMPS:
        if a in stamps and b in stamps:
            stages[name] = _r((stamps[b] - stamps[a]) / 1e6)
    return stages
