"""The audit journal: connections, flashes, slot changes, errors. synchronous=FULL.

Each ``log`` commits before it returns, so an entry that returned is on disk.
When the disk refuses (full, I/O error) the entry is kept in a bounded memory
queue, the person is told once, and the queue is written first as soon as a
write succeeds again: the audit trail keeps going through a disk-full episode.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeconsole.journal.db import Quarantined, is_disk_error, open_checked
from edgeconsole.journal.notices import NoticeBoard
from edgeconsole.journal.schema import AUDIT_MIGRATIONS
from edgeconsole.journal.settings import SiteSettings
from edgeconsole.journal.timebase import wall_ns

LEVELS = ("debug", "info", "warning", "error")
PENDING_LIMIT = 10_000


@dataclass(frozen=True)
class AuditEntry:
    id: int
    ts_ns: int
    level: str
    kind: str
    target: str
    message: str
    fields: dict[str, Any]
    site: str
    technician: str


def _json_default(o: object) -> str:
    return repr(o)


class AuditJournal:
    def __init__(
        self,
        path: Path,
        notices: NoticeBoard,
        settings: Callable[[], SiteSettings] = SiteSettings,
    ) -> None:
        self.path = path
        self._notices = notices
        self._settings = settings
        self._lock = threading.RLock()
        self._pending: deque[tuple[Any, ...]] = deque()
        self.pending_dropped = 0
        self._failing = False
        self.conn, self.quarantined = open_checked(path, "FULL", AUDIT_MIGRATIONS)

    # The fleet inventory and recordings index share this connection and lock.
    @property
    def lock(self) -> threading.RLock:
        return self._lock

    def log(self, kind: str, level: str, target: str, message: str, **fields: Any) -> bool:
        """Append one entry durably. Returns False when it is held in memory (disk refused)."""
        if level not in LEVELS:
            level = "info"
        s = self._settings()
        row = (
            wall_ns(),
            level,
            kind,
            target or "",
            message,
            json.dumps(fields, default=_json_default, ensure_ascii=False),
            s.site,
            s.technician,
        )
        with self._lock:
            self._pending.append(row)
            if len(self._pending) > PENDING_LIMIT:
                self._pending.popleft()
                self.pending_dropped += 1
            return self._flush_pending()

    def retry(self) -> bool:
        """Try to write entries held in memory; True when none are left."""
        with self._lock:
            return self._flush_pending()

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def _flush_pending(self) -> bool:
        if not self._pending:
            return True
        rows = list(self._pending)
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.executemany(
                "INSERT INTO events(ts_ns, level, kind, target, message, fields, site, technician)"
                " VALUES (?,?,?,?,?,?,?,?)",
                rows,
            )
            self.conn.execute("COMMIT")
        except sqlite3.Error as exc:
            try:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            if not self._failing:
                self._failing = True
                what = "the disk is full" if "full" in str(exc).lower() else f"{exc}"
                self._notices.post(
                    "error",
                    f"Audit journal cannot write ({what}): entries are kept in memory "
                    f"(up to {PENDING_LIMIT}) until space returns. Free disk space on "
                    f"{self.path.parent}.",
                )
            if not is_disk_error(exc):
                raise
            return False
        self._pending.clear()
        if self._failing:
            self._failing = False
            self._notices.post(
                "info", f"Audit journal writing again ({len(rows)} held entries saved)."
            )
        return True

    def entries(
        self,
        since_ns: int | None = None,
        until_ns: int | None = None,
        targets: list[str] | None = None,
        limit: int | None = None,
        search: str | None = None,
        levels: list[str] | None = None,
        kinds: list[str] | None = None,
    ) -> list[AuditEntry]:
        sql = "SELECT id, ts_ns, level, kind, target, message, fields, site, technician FROM events"
        where, args = _filters(since_ns, until_ns, targets)
        if search:
            where.append(
                "(message LIKE ? ESCAPE '\\' OR target LIKE ? ESCAPE '\\'"
                " OR kind LIKE ? ESCAPE '\\')"
            )
            pat = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            args += [pat, pat, pat]
        if levels:
            where.append(f"level IN ({','.join('?' * len(levels))})")
            args += list(levels)
        if kinds:
            where.append(f"kind IN ({','.join('?' * len(kinds))})")
            args += list(kinds)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id"
        if limit is not None:
            sql = f"SELECT * FROM ({sql} DESC LIMIT {int(limit)}) ORDER BY id"
        with self._lock:
            rows = self.conn.execute(sql, args).fetchall()
        out = []
        for r in rows:
            try:
                fields = json.loads(r[6])
            except json.JSONDecodeError:
                fields = {"_raw": r[6]}
            out.append(AuditEntry(r[0], r[1], r[2], r[3], r[4], r[5], fields, r[7], r[8]))
        return out

    def close(self) -> None:
        with self._lock:
            self._flush_pending()
            self.conn.close()


def _filters(
    since_ns: int | None, until_ns: int | None, targets: list[str] | None
) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    args: list[Any] = []
    if since_ns is not None:
        where.append("ts_ns >= ?")
        args.append(since_ns)
    if until_ns is not None:
        where.append("ts_ns <= ?")
        args.append(until_ns)
    if targets:
        where.append(f"target IN ({','.join('?' * len(targets))})")
        args += list(targets)
    return where, args


def quarantine_text(q: Quarantined) -> str:
    return (
        f"Journal {q.original.name} was damaged ({q.reason}); it was moved aside to "
        f"{q.moved_to} and a fresh journal started. Keep the damaged file for support."
    )
