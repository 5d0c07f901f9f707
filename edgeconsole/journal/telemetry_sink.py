"""Telemetry, results and latency rows: synchronous=NORMAL, batched on one writer thread.

Callers (capture, inference, serial threads) only enqueue; a full queue drops
the row and counts it. The writer commits a batch every ``flush_s`` or
``batch_rows``. Files rotate whole: when the current file passes
``max_file_bytes`` a new one starts; when all telemetry files pass
``max_total_bytes`` the oldest whole file is deleted.

Disk trouble: when free space drops under the headroom, or a write fails with
disk full / I/O error / file too large, telemetry stops (rows are counted as
lost), the audit journal keeps the headroom, and the person is told. Every
``probe_s`` the writer checks again and resumes by itself.
"""

from __future__ import annotations

import json
import queue
import re
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeconsole.core.frames import STAGES, InferenceResult, LatencySample
from edgeconsole.core.parts import PartDecision, runtime_text
from edgeconsole.journal.db import connect, is_disk_error, open_checked
from edgeconsole.journal.notices import NoticeBoard
from edgeconsole.journal.schema import TELEMETRY_MIGRATIONS
from edgeconsole.journal.timebase import wall_ns

_FILE_RE = re.compile(r"^telemetry-(\d{6})\.db$")
_STAGE_COLS = ("capture", "preprocess", "infer", "postprocess", "overlay")
assert set(_STAGE_COLS) == set(STAGES)

_INSERT = {
    "t": "INSERT INTO telemetry(ts_ns, target, channel, value) VALUES (?,?,?,?)",
    "r": "INSERT INTO results(ts_ns, target, frame_index, summary) VALUES (?,?,?,?)",
    "l": "INSERT INTO latency(ts_ns, target, frame_index, e2e_ms, unaccounted_ms,"
    " first_inference, capture_ms, preprocess_ms, infer_ms, postprocess_ms, overlay_ms)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
    "p": "INSERT INTO parts(ts_ns, target, part_id, verdict, passed, trigger, trigger_frame,"
    " decided_frame, decision_ms, late, score, note, provider, threads)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    "g": "INSERT INTO plc_parts(ts_ns, target, plc, seq, counter, part_id, verdict, class_id,"
    " label, decision_ms, trigger_to_result_ms, result_to_ack_ms, late, acked, handed_over, error)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
}


@dataclass
class TelemetryHealth:
    state: str  # "running", "stopped", "closed"
    reason: str
    written: int
    dropped_queue: int  # queue full: the writer could not keep up
    lost_disk: int  # rows thrown away while the disk refused
    free_bytes: int
    current_file: str
    files: int


@dataclass
class TelemetryLimits:
    max_file_bytes: int = 256 * 1024 * 1024
    max_total_bytes: int = 4 * 1024 * 1024 * 1024
    headroom_bytes: int = 64 * 1024 * 1024
    queue_rows: int = 200_000
    batch_rows: int = 20_000
    flush_s: float = 0.25
    probe_s: float = 1.0


def telemetry_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("telemetry-*.db") if _FILE_RE.match(p.name))


class TelemetrySink:
    def __init__(
        self,
        directory: Path,
        notices: NoticeBoard,
        limits: TelemetryLimits | None = None,
        on_quarantine: Callable[[str], None] | None = None,
        free_space: Callable[[Path], int] | None = None,
    ) -> None:
        self.dir = directory
        self.limits = limits or TelemetryLimits()
        self._notices = notices
        self._on_quarantine = on_quarantine
        self._free_space = free_space or (lambda p: shutil.disk_usage(p).free)
        self._q: queue.Queue[tuple[str, tuple[Any, ...]]] = queue.Queue(self.limits.queue_rows)
        self._lock = threading.Lock()
        self.written = 0
        self.dropped_queue = 0
        self.lost_disk = 0
        self._state = "running"
        self._reason = ""
        self._idle = threading.Condition()
        self._busy = 0
        self._stop = threading.Event()
        files = telemetry_files(directory)
        self._seq = int(_FILE_RE.match(files[-1].name).group(1)) if files else 1  # type: ignore[union-attr]
        self._conn: sqlite3.Connection | None = None
        self._open_current()
        self._thread = threading.Thread(target=self._run, name="edgeconsole-telemetry", daemon=True)
        self._thread.start()

    # ---------------------------------------------------------------- callers
    def _put(self, kind: str, row: tuple[Any, ...]) -> None:
        try:
            self._q.put_nowait((kind, row))
        except queue.Full:
            with self._lock:
                self.dropped_queue += 1

    def add_telemetry(
        self, target: str, channel: str, value: float, ts_ns: int | None = None
    ) -> None:
        self._put("t", (ts_ns if ts_ns is not None else wall_ns(), target, channel, float(value)))

    def add_telemetry_rows(self, rows: Iterable[tuple[int, str, str, float]]) -> None:
        """Rows of (ts_ns wall, target, channel, value): the fast path for bulk readings."""
        for row in rows:
            self._put("t", row)

    def add_result(self, target: str, result: InferenceResult, ts_ns: int | None = None) -> None:
        self._put(
            "r",
            (
                ts_ns if ts_ns is not None else wall_ns(),
                target,
                result.frame_index,
                json.dumps(result.summary(), separators=(",", ":")),
            ),
        )

    def add_part(self, target: str, d: PartDecision, ts_ns: int | None = None) -> None:
        """One physical part, decided or missed (``ts_ns``: wall time, default now)."""
        self._put(
            "p",
            (
                ts_ns if ts_ns is not None else wall_ns(),
                target,
                d.part_id,
                d.verdict,
                int(d.passed),
                d.trigger,
                d.trigger_frame,
                d.decided_frame,
                None if d.missed else d.decision_ms,
                int(d.late),
                d.score,
                d.note,
                d.provider,
                runtime_text(d.provider, d.threads),
            ),
        )

    def add_plc_part(
        self, target: str, plc: str, rec: Mapping[str, Any], ts_ns: int | None = None
    ) -> None:
        """One PLC trigger and what became of it (a handshake record, ``to_json`` form):
        ``target`` is the camera that answered, ``plc`` the PLC's address."""

        def num(key: str) -> Any:
            v = rec.get(key)
            return v if isinstance(v, int | float) and not isinstance(v, bool) else None

        self._put(
            "g",
            (
                ts_ns if ts_ns is not None else wall_ns(),
                target,
                plc,
                int(rec.get("seq") or 0),
                num("counter"),
                num("part_id"),
                rec.get("verdict"),
                num("class_id"),
                str(rec.get("label") or ""),
                num("decision_ms"),
                num("trigger_to_result_ms"),
                num("result_to_ack_ms"),
                int(bool(rec.get("late"))),
                int(bool(rec.get("acked"))),
                int(bool(rec.get("handed_over"))),
                str(rec.get("error") or ""),
            ),
        )

    def add_latency(self, target: str, sample: LatencySample, ts_ns: int | None = None) -> None:
        st = sample.stages
        self._put(
            "l",
            (
                ts_ns if ts_ns is not None else wall_ns(),
                target,
                sample.frame_index,
                sample.e2e_ms,
                sample.unaccounted_ms,
                int(sample.first_inference),
                *(st.get(c) for c in _STAGE_COLS),
            ),
        )

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every row queued so far has been written (or given up); True if so."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._q.unfinished_tasks or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(min(left, 0.05))
        return True

    def health(self) -> TelemetryHealth:
        try:
            free = self._free_space(self.dir)
        except OSError:
            free = -1
        with self._lock:
            return TelemetryHealth(
                self._state,
                self._reason,
                self.written,
                self.dropped_queue,
                self.lost_disk,
                free,
                self._path().name,
                len(telemetry_files(self.dir)),
            )

    def files(self) -> list[Path]:
        return telemetry_files(self.dir)

    def close(self, timeout: float = 10.0) -> None:
        self.flush(timeout)
        self._stop.set()
        self._thread.join(timeout)
        with self._lock:
            self._state = "closed"
        if self._conn is not None:
            try:
                self._conn.close()
            except sqlite3.Error:
                pass
            self._conn = None

    # ----------------------------------------------------------------- writer
    def _path(self) -> Path:
        return self.dir / f"telemetry-{self._seq:06d}.db"

    def _open_current(self) -> None:
        conn, moved = open_checked(self._path(), "NORMAL", TELEMETRY_MIGRATIONS)
        self._conn = conn
        if moved is not None and self._on_quarantine is not None:
            self._on_quarantine(
                f"Telemetry file {moved.original.name} was damaged ({moved.reason}); moved aside "
                f"to {moved.moved_to.name}, a fresh file started."
            )

    def _run(self) -> None:
        last_probe = 0.0
        while not self._stop.is_set() or not self._q.empty():
            batch = self._take()
            with self._idle:
                self._busy = len(batch)
            try:
                if self._state == "stopped":
                    now = time.monotonic()
                    # Probe with real rows only: an empty commit writes nothing, proves nothing.
                    if batch and now - last_probe >= self.limits.probe_s:
                        last_probe = now
                        self._try_resume(batch)
                    else:
                        self._lose(batch)
                elif batch:
                    if self._low_space():
                        self._stop_writing(
                            f"free space under the {self.limits.headroom_bytes // (1024 * 1024)} MB"
                            " headroom kept for the audit journal"
                        )
                        self._lose(batch)
                    else:
                        self._write(batch)
            finally:
                for _ in batch:
                    self._q.task_done()
                with self._idle:
                    self._busy = 0
                    self._idle.notify_all()

    def _take(self) -> list[tuple[str, tuple[Any, ...]]]:
        batch: list[tuple[str, tuple[Any, ...]]] = []
        deadline = time.monotonic() + self.limits.flush_s
        while len(batch) < self.limits.batch_rows:
            left = deadline - time.monotonic()
            if left <= 0 or self._stop.is_set():
                try:
                    while len(batch) < self.limits.batch_rows:
                        batch.append(self._q.get_nowait())
                except queue.Empty:
                    pass
                break
            try:
                batch.append(self._q.get(timeout=left))
            except queue.Empty:
                break
        return batch

    def _low_space(self) -> bool:
        try:
            return self._free_space(self.dir) < self.limits.headroom_bytes
        except OSError:
            return False

    def _write(self, batch: list[tuple[str, tuple[Any, ...]]]) -> bool:
        conn = self._conn
        assert conn is not None
        groups: dict[str, list[tuple[Any, ...]]] = {}
        for kind, row in batch:
            groups.setdefault(kind, []).append(row)
        try:
            conn.execute("BEGIN")
            for kind, rows in groups.items():
                conn.executemany(_INSERT[kind], rows)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            try:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            if not is_disk_error(exc):
                # A bug or a damaged file: say so, keep the rest of the app running.
                self._stop_writing(f"database error: {exc}")
            else:
                self._stop_writing(str(exc))
            self._lose(batch)
            return False
        with self._lock:
            self.written += len(batch)
        self._maybe_rotate()
        return True

    def _lose(self, batch: list[Any]) -> None:
        if batch:
            with self._lock:
                self.lost_disk += len(batch)

    def _stop_writing(self, reason: str) -> None:
        with self._lock:
            if self._state == "stopped":
                return
            self._state = "stopped"
            self._reason = reason
        self._notices.post(
            "error",
            f"Telemetry recording stopped ({reason}). The audit journal keeps going; telemetry "
            f"resumes by itself when space returns. Free disk space on {self.dir}.",
        )

    def _try_resume(self, batch: list[tuple[str, tuple[Any, ...]]]) -> None:
        if self._low_space():
            self._lose(batch)
            return
        # The connection may be unusable after an I/O error: start from a fresh one.
        try:
            if self._conn is not None:
                self._conn.close()
            self._open_current()
        except Exception:
            self._lose(batch)
            return
        with self._lock:
            self._state = "running"
        if self._write(batch):
            with self._lock:
                lost = self.lost_disk
                self._reason = ""
            self._notices.post(
                "info", f"Telemetry recording resumed ({lost} rows lost while it was stopped)."
            )

    def _maybe_rotate(self) -> None:
        path = self._path()
        try:
            size = path.stat().st_size
            wal = path.with_name(path.name + "-wal")
            size += wal.stat().st_size if wal.exists() else 0
        except OSError:
            return
        if size < self.limits.max_file_bytes:
            return
        assert self._conn is not None
        try:
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error:
            pass
        self._conn.close()
        self._seq += 1
        self._open_current()
        self._prune()

    def _prune(self) -> None:
        files = telemetry_files(self.dir)
        total = sum(_size(p) for p in files)
        current = self._path()
        for old in files:
            if total <= self.limits.max_total_bytes or old == current:
                break
            total -= _size(old)
            for p in (old, old.with_name(old.name + "-wal"), old.with_name(old.name + "-shm")):
                try:
                    p.unlink()
                except FileNotFoundError:
                    pass
            self._notices.post(
                "info",
                f"Oldest telemetry file {old.name} deleted (over the journal size limit).",
                kind="journal",
            )


def _size(p: Path) -> int:
    total = 0
    for q in (p, p.with_name(p.name + "-wal")):
        try:
            total += q.stat().st_size
        except OSError:
            pass
    return total


def open_readonly(path: Path) -> sqlite3.Connection:
    return connect(path, "NORMAL", readonly=True)
