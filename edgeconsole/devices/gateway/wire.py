"""Decode the agent's stream messages into core dataclasses."""

from __future__ import annotations

import struct
from typing import Any, cast

from edgeconsole.core.errors import DeviceError
from edgeconsole.core.frames import (
    AnomalyScore,
    Classification,
    Detection,
    InferenceResult,
    OverlayBanner,
    OverlayBox,
    OverlayItem,
    PartVerdict,
    Role,
)
from edgeconsole.core.jsonsafe import JSONRefused, loads_bounded

_ROLES = {"ok", "fail", "warn", "info", "text"}
MAX_HEADER = 64 * 1024


def _box(v: Any) -> tuple[float, float, float, float]:
    if not isinstance(v, list) or len(v) != 4:
        raise DeviceError("malformed box in a stream result")
    a, b, c, d = (float(x) for x in v)
    return (a, b, c, d)


def _poly(v: Any) -> tuple[tuple[float, float], ...] | None:
    if v is None:
        return None
    return tuple((float(p[0]), float(p[1])) for p in v)


def result_from_json(d: Any) -> InferenceResult:
    """Rebuild an InferenceResult; a malformed message raises DeviceError."""
    if not isinstance(d, dict):
        raise DeviceError("stream result is not an object")
    try:
        res = InferenceResult(frame_index=int(d.get("frame_index", 0)))
        for x in d.get("detections") or []:
            res.detections.append(
                Detection(
                    _box(x["box"]),
                    str(x["label"]),
                    float(x["score"]),
                    str(x.get("kind", "object")),
                    _poly(x.get("polygon")),
                )
            )
        c = d.get("classification")
        if c:
            res.classification = Classification(
                str(c["label"]),
                float(c["score"]),
                tuple((str(k), float(v)) for k, v in c.get("topk") or []),
            )
        a = d.get("anomaly")
        if a:
            res.anomaly = AnomalyScore(float(a["score"]), float(a["threshold"]))
        for p in d.get("parts") or []:
            res.parts.append(
                PartVerdict(
                    _box(p["box"]), bool(p["passed"]), str(p["reason"]), float(p.get("score", 1.0))
                )
            )
        items: list[OverlayItem] = []
        for o in d.get("overlay") or []:
            role = cast(Role, o.get("role") if o.get("role") in _ROLES else "info")
            if o.get("type") == "box":
                items.append(
                    OverlayBox(
                        _box(o["box"]),
                        role,
                        str(o.get("label", "")),
                        _poly(o.get("polygon")),
                        bool(o.get("thick", False)),
                    )
                )
            elif o.get("type") == "banner":
                items.append(OverlayBanner(str(o.get("text", "")), role))
        res.overlay = items
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise DeviceError(f"malformed stream result: {exc!r}") from None
    return res


def unpack_jpeg(data: bytes) -> tuple[dict[str, Any], bytes]:
    """Split a binary frame message into its JSON header and the JPEG bytes."""
    if len(data) < 4:
        raise DeviceError("stream frame message is truncated")
    (n,) = struct.unpack(">I", data[:4])
    if n > MAX_HEADER or 4 + n > len(data):
        raise DeviceError("stream frame header length is out of range")
    try:
        header = loads_bounded(data[4 : 4 + n], max_bytes=MAX_HEADER, what="stream frame header")
    except JSONRefused as exc:
        raise DeviceError(exc.what) from None
    if not isinstance(header, dict):
        raise DeviceError("stream frame header is not an object")
    return header, data[4 + n :]
