"""JSON schemas of the recording channels.

Frames and overlays use Foxglove's published JSON schemas (foxglove.CompressedImage,
foxglove.ImageAnnotations) with message encoding "json", so Foxglove and the
``mcap`` tools understand them without protobuf code generation. Our own
channels (results, latency, telemetry, events) carry their JSON schema too.
"""

from __future__ import annotations

import json
from typing import Any

_TIME: dict[str, Any] = {
    "type": "object",
    "title": "time",
    "properties": {
        "sec": {"type": "integer", "minimum": 0},
        "nsec": {"type": "integer", "minimum": 0, "maximum": 999999999},
    },
}
_POINT2: dict[str, Any] = {
    "title": "foxglove.Point2",
    "type": "object",
    "properties": {"x": {"type": "number"}, "y": {"type": "number"}},
}
_COLOR: dict[str, Any] = {
    "title": "foxglove.Color",
    "type": "object",
    "properties": {k: {"type": "number"} for k in ("r", "g", "b", "a")},
}

COMPRESSED_IMAGE: dict[str, Any] = {
    "title": "foxglove.CompressedImage",
    "description": "A compressed image",
    "type": "object",
    "properties": {
        "timestamp": {**_TIME, "description": "Timestamp of image"},
        "frame_id": {"type": "string", "description": "Frame of reference for the image"},
        "data": {
            "type": "string",
            "contentEncoding": "base64",
            "description": "Compressed image data",
        },
        "format": {"type": "string", "description": "Image format: jpeg, png, webp, avif"},
    },
}

IMAGE_ANNOTATIONS: dict[str, Any] = {
    "title": "foxglove.ImageAnnotations",
    "description": "Array of annotations for a 2D image",
    "type": "object",
    "properties": {
        "circles": {
            "type": "array",
            "items": {
                "title": "foxglove.CircleAnnotation",
                "type": "object",
                "properties": {
                    "timestamp": _TIME,
                    "position": _POINT2,
                    "diameter": {"type": "number"},
                    "thickness": {"type": "number"},
                    "fill_color": _COLOR,
                    "outline_color": _COLOR,
                },
            },
        },
        "points": {
            "type": "array",
            "items": {
                "title": "foxglove.PointsAnnotation",
                "type": "object",
                "properties": {
                    "timestamp": _TIME,
                    "type": {
                        "title": "foxglove.PointsAnnotationType",
                        "oneOf": [
                            {"title": "UNKNOWN", "const": 0},
                            {"title": "POINTS", "const": 1},
                            {"title": "LINE_LOOP", "const": 2},
                            {"title": "LINE_STRIP", "const": 3},
                            {"title": "LINE_LIST", "const": 4},
                        ],
                    },
                    "points": {"type": "array", "items": _POINT2},
                    "outline_color": _COLOR,
                    "outline_colors": {"type": "array", "items": _COLOR},
                    "fill_color": _COLOR,
                    "thickness": {"type": "number"},
                },
            },
        },
        "texts": {
            "type": "array",
            "items": {
                "title": "foxglove.TextAnnotation",
                "type": "object",
                "properties": {
                    "timestamp": _TIME,
                    "position": _POINT2,
                    "text": {"type": "string"},
                    "font_size": {"type": "number"},
                    "text_color": _COLOR,
                    "background_color": _COLOR,
                },
            },
        },
    },
}

_NUM_OR_NULL = {"type": ["number", "null"]}
_BOX = {"type": "array", "items": _NUM_OR_NULL, "minItems": 4, "maxItems": 4}

RESULT: dict[str, Any] = {
    "title": "edgeconsole.InferenceResult",
    "type": "object",
    "required": ["frame_index"],
    "properties": {
        "frame_index": {"type": "integer"},
        "detections": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "box": _BOX,
                    "label": {"type": "string"},
                    "score": _NUM_OR_NULL,
                    "kind": {"type": "string"},
                },
            },
        },
        "classification": {"type": ["object", "null"]},
        "anomaly": {"type": ["object", "null"]},
        "parts": {"type": "array", "items": {"type": "object"}},
        "overlay": {"type": "array", "items": {"type": "object"}},
        "summary": {"type": "object"},
    },
}

LATENCY: dict[str, Any] = {
    "title": "edgeconsole.LatencySample",
    "type": "object",
    "required": ["frame_index", "stages", "e2e_ms"],
    "properties": {
        "frame_index": {"type": "integer"},
        "stages": {"type": "object", "additionalProperties": _NUM_OR_NULL},
        "e2e_ms": _NUM_OR_NULL,
        "unaccounted_ms": _NUM_OR_NULL,
        "first_inference": {"type": "boolean"},
    },
}

TELEMETRY: dict[str, Any] = {
    "title": "edgeconsole.Telemetry",
    "type": "object",
    "required": ["target", "values"],
    "properties": {
        "target": {"type": "string"},
        "values": {"type": "object", "additionalProperties": _NUM_OR_NULL},
    },
}

EVENT: dict[str, Any] = {
    "title": "edgeconsole.Event",
    "type": "object",
    "required": ["level", "text"],
    "properties": {
        "level": {"type": "string"},
        "kind": {"type": "string"},
        "target": {"type": "string"},
        "text": {"type": "string"},
    },
}

PART: dict[str, Any] = {
    "title": "edgeconsole.PartDecision",
    "type": "object",
    "required": ["id", "verdict", "trigger_frame", "decision_ms", "late"],
    "properties": {
        "id": {"type": "integer"},
        "verdict": {"type": "string"},
        "passed": {"type": "boolean"},
        "trigger": {"type": "string"},
        "trigger_frame": {"type": "integer"},
        "decided_frame": {"type": "integer"},
        "decision_ms": _NUM_OR_NULL,
        "late": {"type": "boolean"},
        "score": _NUM_OR_NULL,
        "box": _BOX,
        "note": {"type": "string"},
        "provider": {"type": "string", "description": "onnxruntime execution provider"},
        "threads": {"type": ["integer", "string"], "description": "intra-op threads or auto"},
    },
}

#: An industrial camera's own stamp for a frame (aravis://, pylon://).
CAMERA_FRAME: dict[str, Any] = {
    "type": "object",
    "properties": {
        "frame_index": {"type": "integer"},
        "frame_id": {"type": "integer", "description": "the camera's block id"},
        "camera_ns": {"type": ["integer", "null"], "description": "the camera's own clock"},
        "clock": {"type": "string", "description": "latched, estimated, trigger or arrival"},
        "exposure_ns": {"type": ["integer", "null"], "description": "exposure, our clock"},
        "captured_ns": {"type": "integer", "description": "frame complete, our clock"},
        "trigger_seq": {"type": ["integer", "null"]},
        "trigger_ns": {"type": ["integer", "null"]},
    },
}

#: The camera link's counters, once a second (cumulative since the source opened).
CAMERA_STATS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "source": {"type": "string"},
        "camera": {"type": ["object", "null"]},
        "state": {"type": "string"},
        "reconnects": {"type": "integer"},
        "stream": {"type": "object"},
        "clock": {"type": "object"},
        "trigger": {"type": "object"},
    },
}

_INT_OR_NULL: dict[str, Any] = {"type": ["integer", "null"]}

PLC_PART: dict[str, Any] = {
    "title": "edgeconsole.PlcHandshake",
    "description": "One PLC trigger and what became of it: the verdict written, when "
    "results-ready rose after the trigger, when the PLC acknowledged.",
    "type": "object",
    "required": ["plc", "seq", "verdict", "trigger_to_result_ms", "late", "handed_over"],
    "properties": {
        "plc": {"type": "string"},
        "seq": {"type": "integer"},
        "counter": _INT_OR_NULL,
        "part_id": _INT_OR_NULL,
        "verdict": {"type": ["string", "null"]},
        "class_id": _INT_OR_NULL,
        "label": {"type": "string"},
        "decision_ms": _NUM_OR_NULL,
        "trigger_to_result_ms": _NUM_OR_NULL,
        "result_to_ack_ms": _NUM_OR_NULL,
        "late": {"type": "boolean"},
        "acked": {"type": "boolean"},
        "handed_over": {"type": "boolean"},
        "error": {"type": "string"},
    },
}

PLC_SIGNAL: dict[str, Any] = {
    "title": "edgeconsole.PlcSignal",
    "description": "An edge of a handshake signal, stamped where the camera saw or wrote it.",
    "type": "object",
    "required": ["plc", "signal", "value"],
    "properties": {
        "plc": {"type": "string"},
        "signal": {"type": "string"},
        "value": {"type": "integer"},
    },
}

#: topic -> (schema name, schema)
CHANNELS: dict[str, tuple[str, dict[str, Any]]] = {
    "/camera": ("foxglove.CompressedImage", COMPRESSED_IMAGE),
    "/overlay": ("foxglove.ImageAnnotations", IMAGE_ANNOTATIONS),
    "/results": ("edgeconsole.InferenceResult", RESULT),
    "/latency": ("edgeconsole.LatencySample", LATENCY),
    "/telemetry": ("edgeconsole.Telemetry", TELEMETRY),
    "/events": ("edgeconsole.Event", EVENT),
    "/parts": ("edgeconsole.PartDecision", PART),
    "/camera_frames": ("edgeconsole.CameraFrame", CAMERA_FRAME),
    "/camera_stats": ("edgeconsole.CameraStats", CAMERA_STATS),
    "/plc/parts": ("edgeconsole.PlcHandshake", PLC_PART),
    "/plc/signals": ("edgeconsole.PlcSignal", PLC_SIGNAL),
}


def schema_bytes(schema: dict[str, Any]) -> bytes:
    return json.dumps(schema, separators=(",", ":")).encode("utf-8")
