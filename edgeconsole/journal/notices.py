"""What the journal wants a person to know (disk full, corrupt file quarantined, ...).

The journal sits below the session, so it cannot build ``session.update.Event``
itself. It queues ``Notice`` objects with the same fields; the session drains
them each poll and turns each into an ``Event(level, text, kind, wall_time)``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal

from edgeconsole.core.clock import wall_iso

NoticeLevel = Literal["info", "warning", "error"]


@dataclass(frozen=True)
class Notice:
    level: NoticeLevel
    text: str
    kind: str = "journal"
    wall_time: str = ""


class NoticeBoard:
    """Thread-safe, bounded list of notices; the oldest are dropped (and counted) first."""

    def __init__(self, capacity: int = 256) -> None:
        self._lock = threading.Lock()
        self._items: list[Notice] = []
        self._capacity = capacity
        self.dropped = 0
        self.history: list[Notice] = []  # the last few, for tests and a status line

    def post(self, level: NoticeLevel, text: str, kind: str = "journal") -> Notice:
        notice = Notice(level, text, kind, wall_iso())
        with self._lock:
            if len(self._items) >= self._capacity:
                self._items.pop(0)
                self.dropped += 1
            self._items.append(notice)
            self.history.append(notice)
            del self.history[:-64]
        return notice

    def drain(self) -> list[Notice]:
        with self._lock:
            out, self._items = self._items, []
            return out
