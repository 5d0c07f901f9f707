"""Time: one monotonic clock for stamps, one wall clock for people."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now_ns() -> int:
    """Monotonic nanoseconds; every stage stamp uses this clock."""
    return time.perf_counter_ns()


def ns_to_ms(ns: int | float) -> float:
    return float(ns) / 1e6


def wall_iso() -> str:
    """UTC wall time in ISO 8601 with milliseconds, for journals and reports."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")
