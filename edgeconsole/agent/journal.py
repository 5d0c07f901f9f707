"""The agent's own journal: append-only JSON lines the console pulls.

Requests never reach it verbatim, so a token cannot end up here.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from edgeconsole.core.atomic import atomic_write

MAX_BYTES = 8 * 1024 * 1024
MAX_PULL = 1000


class AgentJournal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.seq = 0
        for entry in self._read_all():
            self.seq = max(self.seq, int(entry.get("seq", 0)))

    def _read_all(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        try:
            lines = self.path.read_bytes().splitlines()
        except FileNotFoundError:
            return out
        for line in lines:
            try:
                entry = json.loads(line)
            except (UnicodeDecodeError, json.JSONDecodeError):
                continue  # a line torn by a power cut
            if isinstance(entry, dict) and isinstance(entry.get("seq"), int):
                out.append(entry)
        return out

    def add(self, kind: str, text: str, **fields: Any) -> dict[str, Any]:
        with self._lock:
            self.seq += 1
            entry = {"seq": self.seq, "time": time.time(), "kind": kind, "text": text, **fields}
            line = (json.dumps(entry, default=str) + "\n").encode()
            if self.path.exists() and self.path.stat().st_size + len(line) > MAX_BYTES:
                keep = self._read_all()[-MAX_PULL:]
                # Atomic: a kill during the rotation leaves the old journal, not half of it.
                atomic_write(self.path, b"".join((json.dumps(e) + "\n").encode() for e in keep))
            with self.path.open("ab") as fh:
                fh.write(line)
            return entry

    def pull(self, since: int = 0, limit: int = 200) -> list[dict[str, Any]]:
        limit = max(1, min(limit, MAX_PULL))
        with self._lock:
            return [e for e in self._read_all() if e["seq"] > since][:limit]
