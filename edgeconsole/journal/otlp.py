"""OpenTelemetry OTLP/JSON: the journal as logs and metrics a collector ingests.

Files are JSON Lines, one ``ExportLogsServiceRequest`` / ``ExportMetricsServiceRequest``
per line (the layout of the collector's file exporter and ``otlpjsonfile``
receiver). 64-bit integers are decimal strings and enums are numbers, as the
OTLP/JSON mapping asks. Latency goes out as histogram metrics (explicit
buckets, one data point per target, stage and minute); telemetry as gauges.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from edgeconsole import __version__

#: Latency bucket bounds in ms: dense where budgets live (10-100 ms), sparse in the tail.
LATENCY_BOUNDS_MS: tuple[float, ...] = (
    0.5,
    1,
    2,
    3,
    5,
    7.5,
    10,
    15,
    20,
    30,
    50,
    75,
    100,
    150,
    200,
    300,
    500,
    1000,
    2000,
    5000,
)
WINDOW_NS = 60 * 1_000_000_000
SEVERITY = {
    "debug": (5, "DEBUG"),
    "info": (9, "INFO"),
    "warning": (13, "WARN"),
    "error": (17, "ERROR"),
}
# AGGREGATION_TEMPORALITY_DELTA: each data point counts only its own window.
DELTA = 1


def _attr(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        v: dict[str, Any] = {"boolValue": value}
    elif isinstance(value, int):
        v = {"intValue": str(value)}
    elif isinstance(value, float):
        v = {"doubleValue": value}
    else:
        v = {"stringValue": str(value)}
    return {"key": key, "value": v}


def resource(site: str, technician: str) -> dict[str, Any]:
    return {
        "attributes": [
            _attr("service.name", "edgeconsole"),
            _attr("service.version", __version__),
            _attr("edgeconsole.site", site),
            _attr("edgeconsole.technician", technician),
        ]
    }


def _scope() -> dict[str, Any]:
    return {"name": "edgeconsole.journal", "version": __version__}


def log_lines(
    entries: Iterable[tuple[int, str, str, str, str, str]],
    res: dict[str, Any],
    per_line: int = 5000,
) -> Iterator[str]:
    """entries: (ts_ns, level, kind, target, message, fields_json)."""
    batch: list[dict[str, Any]] = []

    def line() -> str:
        req = {
            "resourceLogs": [
                {"resource": res, "scopeLogs": [{"scope": _scope(), "logRecords": batch}]}
            ]
        }
        return json.dumps(req, separators=(",", ":"), allow_nan=False) + "\n"

    for ts, level, kind, target, message, fields_json in entries:
        num, text = SEVERITY.get(level, (9, "INFO"))
        attrs = [_attr("edgeconsole.kind", kind), _attr("edgeconsole.target", target)]
        try:
            fields = json.loads(fields_json) if fields_json else {}
        except json.JSONDecodeError:
            fields = {"raw": fields_json}
        if isinstance(fields, dict):
            for k, v in fields.items():
                attrs.append(
                    _attr(
                        f"edgeconsole.{k}",
                        v if isinstance(v, (str, int, float, bool)) else json.dumps(v),
                    )
                )
        batch.append(
            {
                "timeUnixNano": str(ts),
                "observedTimeUnixNano": str(ts),
                "severityNumber": num,
                "severityText": text,
                "body": {"stringValue": message},
                "attributes": attrs,
            }
        )
        if len(batch) >= per_line:
            yield line()
            batch = []
    if batch:
        yield line()


def _metrics_line(res: dict[str, Any], metrics: list[dict[str, Any]]) -> str:
    req = {
        "resourceMetrics": [
            {"resource": res, "scopeMetrics": [{"scope": _scope(), "metrics": metrics}]}
        ]
    }
    return json.dumps(req, separators=(",", ":"), allow_nan=False) + "\n"


def gauge_lines(
    rows: Iterable[tuple[int, str, str, float | None]], res: dict[str, Any], per_line: int = 10_000
) -> Iterator[str]:
    """Telemetry rows (ts_ns, target, channel, value) as gauge data points."""
    points: dict[str, list[dict[str, Any]]] = {}
    n = 0

    def flush() -> str:
        metrics = [
            {
                "name": "edgeconsole.telemetry." + ch,
                "description": f"telemetry channel {ch}",
                "gauge": {"dataPoints": pts},
            }
            for ch, pts in points.items()
        ]
        return _metrics_line(res, metrics)

    for ts, target, channel, value in rows:
        if value is None or value != value or value in (float("inf"), float("-inf")):
            continue
        points.setdefault(channel, []).append(
            {
                "timeUnixNano": str(ts),
                "asDouble": value,
                "attributes": [{"key": "edgeconsole.target", "value": {"stringValue": target}}],
            }
        )
        n += 1
        if n >= per_line:
            yield flush()
            points = {}
            n = 0
    if n:
        yield flush()


class _Hist:
    __slots__ = ("counts", "max", "min", "n", "start", "sum")

    def __init__(self, start: int) -> None:
        self.start = start
        self.counts = [0] * (len(LATENCY_BOUNDS_MS) + 1)
        self.n = 0
        self.sum = 0.0
        self.min = float("inf")
        self.max = float("-inf")

    def add(self, v: float) -> None:
        i = 0
        for b in LATENCY_BOUNDS_MS:  # bucket i holds (bound[i-1], bound[i]]
            if v <= b:
                break
            i += 1
        self.counts[i] += 1
        self.n += 1
        self.sum += v
        self.min = min(self.min, v)
        self.max = max(self.max, v)


STAGE_COLUMNS = ("e2e", "unaccounted", "capture", "preprocess", "infer", "postprocess", "overlay")


def latency_histogram_lines(
    rows: Iterable[tuple[Any, ...]], res: dict[str, Any], per_line: int = 2000
) -> Iterator[str]:
    """rows: (ts_ns, target, e2e, unaccounted, capture, preprocess, infer, postprocess, overlay),
    ordered by time. One histogram data point per (target, stage, minute)."""
    open_: dict[tuple[str, str, int], _Hist] = {}
    done: list[dict[str, Any]] = []

    def point(key: tuple[str, str, int], h: _Hist) -> dict[str, Any]:
        target, stage, window = key
        return {
            "startTimeUnixNano": str(window * WINDOW_NS),
            "timeUnixNano": str((window + 1) * WINDOW_NS),
            "count": str(h.n),
            "sum": h.sum,
            "min": h.min,
            "max": h.max,
            "bucketCounts": [str(c) for c in h.counts],
            "explicitBounds": list(LATENCY_BOUNDS_MS),
            "attributes": [
                {"key": "edgeconsole.target", "value": {"stringValue": target}},
                {"key": "edgeconsole.stage", "value": {"stringValue": stage}},
            ],
        }

    def metric(points: list[dict[str, Any]]) -> str:
        return _metrics_line(
            res,
            [
                {
                    "name": "edgeconsole.pipeline.latency",
                    "unit": "ms",
                    "description": "per-frame latency by pipeline stage (e2e = end to end)",
                    "histogram": {"aggregationTemporality": DELTA, "dataPoints": points},
                }
            ],
        )

    current_window = None
    for row in rows:
        ts, target = row[0], row[1]
        window = ts // WINDOW_NS
        if current_window is not None and window != current_window:
            for key, h in open_.items():
                done.append(point(key, h))
            open_.clear()
            if len(done) >= per_line:
                yield metric(done)
                done = []
        current_window = window
        for stage, v in zip(STAGE_COLUMNS, row[2:], strict=False):
            if v is None or v != v:
                continue
            key = (target, stage, window)
            hist = open_.get(key)
            if hist is None:
                hist = open_[key] = _Hist(window * WINDOW_NS)
            hist.add(float(v))
    for key, h in open_.items():
        done.append(point(key, h))
    if done:
        yield metric(done)
