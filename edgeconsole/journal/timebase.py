"""Turn monotonic stamps (what frames carry) into wall time (what journals and packs need).

The offset is taken once per process, so a wall-clock jump (NTP, a person fixing
the laptop clock) does not reorder one recording's messages.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from edgeconsole.core.clock import now_ns

_OFFSET_NS = time.time_ns() - now_ns()


def mono_to_wall_ns(mono_ns: int) -> int:
    return mono_ns + _OFFSET_NS


def wall_ns() -> int:
    return now_ns() + _OFFSET_NS


def ns_to_iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat(timespec="milliseconds")
