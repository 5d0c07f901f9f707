"""Open a journal database: WAL, a durability class, versioned migrations, quarantine.

A database that fails ``quick_check`` (or is not a database at all) is renamed
aside with its WAL and SHM files, never repaired in place, never deleted: the
person is told where it went and a fresh file is started.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from edgeconsole.core.errors import JournalError
from edgeconsole.journal.timebase import ns_to_iso, wall_ns

Durability = Literal["FULL", "NORMAL"]

#: (version, SQL script). Versions are 1, 2, 3, ... in order; applied ones are never edited.
Migrations = Sequence[tuple[int, str]]


@dataclass(frozen=True)
class Quarantined:
    original: Path
    moved_to: Path
    reason: str


def _is_disk_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(
        s in text for s in ("disk is full", "disk i/o", "i/o error", "file too large", "no space")
    )


def is_disk_error(exc: BaseException) -> bool:
    """True for errors that mean "storage refused the write" (full, EFBIG, EIO)."""
    return isinstance(exc, sqlite3.Error | OSError) and (
        _is_disk_error(exc) or isinstance(exc, OSError)
    )


def connect(path: Path, durability: Durability, *, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        conn = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, check_same_thread=False, isolation_level=None
        )
        conn.execute("PRAGMA query_only=ON")
        return conn
    conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=10)
    mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        conn.close()
        raise JournalError(
            f"cannot switch the journal to WAL mode (got {mode})",
            subject=str(path),
            hint="put the app data directory on a local disk",
        )
    conn.execute(f"PRAGMA synchronous={durability}")
    # Autocheckpoint keeps the WAL from growing without bound on long runs.
    conn.execute("PRAGMA wal_autocheckpoint=1000")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def _sidecars(path: Path) -> list[Path]:
    return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]


def quarantine(path: Path, reason: str) -> Quarantined:
    stamp = ns_to_iso(wall_ns()).replace(":", "").replace("-", "").replace(".", "")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 0
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    for src in _sidecars(path):
        if src.exists():
            os.replace(src, target.with_name(target.name + src.name[len(path.name) :]))
    return Quarantined(path, target, reason)


def check(path: Path) -> str | None:
    """None when the file is a sound SQLite database, else what is wrong."""
    if not path.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = conn.execute("PRAGMA quick_check").fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    if rows != [("ok",)]:
        return "; ".join(str(r[0]) for r in rows[:3])
    return None


def migrate(conn: sqlite3.Connection, migrations: Migrations, path: Path) -> int:
    """Bring the schema to the newest version; returns the version now in the file."""
    current = int(conn.execute("PRAGMA user_version").fetchone()[0])
    newest = max(v for v, _ in migrations)
    if current > newest:
        raise JournalError(
            f"journal schema version {current} is newer than this app knows ({newest})",
            subject=str(path),
            hint="use the newer EdgeConsole, or move the journal aside",
        )
    for version, script in sorted(migrations):
        if version <= current:
            continue
        try:
            conn.executescript(
                f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version={version};\nCOMMIT;"
            )
        except sqlite3.Error:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        current = version
    return current


def open_checked(
    path: Path, durability: Durability, migrations: Migrations
) -> tuple[sqlite3.Connection, Quarantined | None]:
    """Open (creating if needed) with integrity check, quarantine and migrations."""
    moved: Quarantined | None = None
    problem = check(path)
    if problem is not None:
        moved = quarantine(path, problem)
    try:
        conn = connect(path, durability)
        migrate(conn, migrations, path)
    except sqlite3.DatabaseError as exc:
        # Damage quick_check could not see (e.g. a header that opens but breaks on write).
        if moved is not None or _is_disk_error(exc):
            raise JournalError(f"cannot open journal: {exc}", subject=str(path)) from exc
        try:
            conn.close()
        except Exception:
            pass
        moved = quarantine(path, str(exc))
        conn = connect(path, durability)
        migrate(conn, migrations, path)
    return conn, moved
