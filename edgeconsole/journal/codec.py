"""Results and latency samples <-> plain JSON dicts (recordings and tables use the same form).

Decoding is strict about types: a recording is a file from outside, so a
malformed message raises JournalError instead of producing a half object.
"""

from __future__ import annotations

import math
from typing import Any

from edgeconsole.core.errors import JournalError
from edgeconsole.core.frames import (
    AnomalyScore,
    Classification,
    Detection,
    InferenceResult,
    LatencySample,
    OverlayBanner,
    OverlayBox,
    OverlayItem,
    PartVerdict,
)

_ROLES = ("ok", "fail", "warn", "info", "text")


def _num(v: float) -> float | None:
    # JSON has no NaN/Inf; keep them out rather than writing invalid JSON.
    return float(v) if math.isfinite(v) else None


def _box(b: tuple[float, float, float, float]) -> list[float | None]:
    return [_num(x) for x in b]


def _poly(p: tuple[tuple[float, float], ...] | None) -> list[list[float | None]] | None:
    return None if p is None else [[_num(x), _num(y)] for x, y in p]


def result_to_dict(result: InferenceResult) -> dict[str, Any]:
    overlay: list[dict[str, Any]] = []
    for item in result.overlay:
        if isinstance(item, OverlayBox):
            overlay.append(
                {
                    "type": "box",
                    "box": _box(item.box),
                    "role": item.role,
                    "label": item.label,
                    "polygon": _poly(item.polygon),
                    "thick": item.thick,
                }
            )
        else:
            overlay.append({"type": "banner", "text": item.text, "role": item.role})
    out: dict[str, Any] = {
        "frame_index": result.frame_index,
        "detections": [
            {
                "box": _box(d.box),
                "label": d.label,
                "score": _num(d.score),
                "kind": d.kind,
                "polygon": _poly(d.polygon),
            }
            for d in result.detections
        ],
        "classification": None,
        "anomaly": None,
        "parts": [
            {"box": _box(p.box), "passed": p.passed, "reason": p.reason, "score": _num(p.score)}
            for p in result.parts
        ],
        "overlay": overlay,
        "summary": result.summary(),
    }
    if result.classification is not None:
        c = result.classification
        out["classification"] = {
            "label": c.label,
            "score": _num(c.score),
            "topk": [[lbl, _num(s)] for lbl, s in c.topk],
        }
    if result.anomaly is not None:
        out["anomaly"] = {
            "score": _num(result.anomaly.score),
            "threshold": _num(result.anomaly.threshold),
        }
    return out


def _bad(what: str) -> JournalError:
    return JournalError(
        f"malformed message: {what}", hint="the recording may be damaged or from another program"
    )


def _get_float(d: Any, key: str) -> float:
    v = d.get(key) if isinstance(d, dict) else None
    if v is None:
        return math.nan
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _bad(f"{key} is not a number")
    return float(v)


def _get_str(d: Any, key: str, default: str = "") -> str:
    v = d.get(key, default) if isinstance(d, dict) else default
    if not isinstance(v, str):
        raise _bad(f"{key} is not text")
    return v


def _as_box(v: Any) -> tuple[float, float, float, float]:
    if not isinstance(v, list) or len(v) != 4:
        raise _bad("box is not four numbers")
    vals = []
    for x in v:
        if x is None:
            vals.append(math.nan)
        elif isinstance(x, (int, float)) and not isinstance(x, bool):
            vals.append(float(x))
        else:
            raise _bad("box is not four numbers")
    return (vals[0], vals[1], vals[2], vals[3])


def _as_poly(v: Any) -> tuple[tuple[float, float], ...] | None:
    if v is None:
        return None
    if not isinstance(v, list) or len(v) > 10_000:
        raise _bad("polygon is not a list of points")
    pts = []
    for p in v:
        if (
            not isinstance(p, list)
            or len(p) != 2
            or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in p)
        ):
            raise _bad("polygon point is not two numbers")
        pts.append((float(p[0]), float(p[1])))
    return tuple(pts)


def _as_list(d: dict[str, Any], key: str) -> list[Any]:
    v = d.get(key, [])
    if not isinstance(v, list):
        raise _bad(f"{key} is not a list")
    return v


def _role(v: Any) -> Any:
    if v not in _ROLES:
        raise _bad(f"unknown overlay role {v!r}")
    return v


def result_from_dict(d: Any) -> InferenceResult:
    if not isinstance(d, dict):
        raise _bad("result is not an object")
    idx = d.get("frame_index")
    if not isinstance(idx, int) or isinstance(idx, bool):
        raise _bad("frame_index is not an integer")
    dets = [
        Detection(
            box=_as_box(x.get("box") if isinstance(x, dict) else None),
            label=_get_str(x, "label"),
            score=_get_float(x, "score"),
            kind=_get_str(x, "kind", "object"),
            polygon=_as_poly(x.get("polygon")),
        )
        for x in _as_list(d, "detections")
    ]
    parts = [
        PartVerdict(
            box=_as_box(x.get("box") if isinstance(x, dict) else None),
            passed=bool(x.get("passed")),
            reason=_get_str(x, "reason"),
            score=_get_float(x, "score"),
        )
        for x in _as_list(d, "parts")
    ]
    overlay: list[OverlayItem] = []
    for x in _as_list(d, "overlay"):
        if not isinstance(x, dict):
            raise _bad("overlay item is not an object")
        if x.get("type") == "box":
            overlay.append(
                OverlayBox(
                    box=_as_box(x.get("box")),
                    role=_role(x.get("role")),
                    label=_get_str(x, "label"),
                    polygon=_as_poly(x.get("polygon")),
                    thick=bool(x.get("thick", False)),
                )
            )
        elif x.get("type") == "banner":
            overlay.append(OverlayBanner(text=_get_str(x, "text"), role=_role(x.get("role"))))
        else:
            raise _bad(f"unknown overlay type {x.get('type')!r}")
    cls = None
    c = d.get("classification")
    if c is not None:
        if not isinstance(c, dict):
            raise _bad("classification is not an object")
        topk_raw = _as_list(c, "topk")
        topk = []
        for t in topk_raw:
            if not isinstance(t, list) or len(t) != 2 or not isinstance(t[0], str):
                raise _bad("topk entry is not [label, score]")
            topk.append((t[0], math.nan if t[1] is None else float(t[1])))
        cls = Classification(_get_str(c, "label"), _get_float(c, "score"), tuple(topk))
    anomaly = None
    a = d.get("anomaly")
    if a is not None:
        if not isinstance(a, dict):
            raise _bad("anomaly is not an object")
        anomaly = AnomalyScore(_get_float(a, "score"), _get_float(a, "threshold"))
    return InferenceResult(
        frame_index=idx,
        detections=dets,
        classification=cls,
        anomaly=anomaly,
        parts=parts,
        overlay=overlay,
    )


def latency_to_dict(s: LatencySample) -> dict[str, Any]:
    return {
        "frame_index": s.frame_index,
        "stages": {k: _num(v) for k, v in s.stages.items()},
        "e2e_ms": _num(s.e2e_ms),
        "unaccounted_ms": _num(s.unaccounted_ms),
        "first_inference": s.first_inference,
    }


def latency_from_dict(d: Any) -> LatencySample:
    if not isinstance(d, dict):
        raise _bad("latency sample is not an object")
    idx = d.get("frame_index")
    if not isinstance(idx, int) or isinstance(idx, bool):
        raise _bad("frame_index is not an integer")
    stages_raw = d.get("stages", {})
    if not isinstance(stages_raw, dict):
        raise _bad("stages is not an object")
    stages = {}
    for k, v in stages_raw.items():
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise _bad(f"stage {k!r} is not a number")
        stages[str(k)] = float(v)
    return LatencySample(
        frame_index=idx,
        stages=stages,
        e2e_ms=_get_float(d, "e2e_ms"),
        first_inference=bool(d.get("first_inference", False)),
    )
