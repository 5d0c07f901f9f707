"""The evidence pack: one folder a central system ingests with standard tools.

    PACK/
      manifest.json            site, technician, time range, console key, contents
      tables/*.csv             results, latency, telemetry, audit log, fleet (formula-safe)
      otlp/logs.jsonl          OTLP/JSON ExportLogsServiceRequest per line
      otlp/metrics.jsonl       OTLP/JSON ExportMetricsServiceRequest per line
      fleet.json               inventory and consistency flags
      recordings/*.mcap
      reports/*                signed commissioning reports (html, json, pdf)
      console_ed25519.pub.pem  the console's public key
      SHA256SUMS               sha256sum -c compatible, covers every file above
      SHA256SUMS.sig           Ed25519 signature over the exact bytes of SHA256SUMS
      COMPLETE                 written last

Everything is written into ``.PACK.partial-<pid>`` (each file temp + fsync +
rename), COMPLETE last, then the folder is renamed to PACK and the parent
fsynced: a pulled USB stick leaves either no PACK or a partial folder that
``verify`` rejects, never a half pack that looks whole.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeconsole import __version__
from edgeconsole.core.atomic import atomic_writer, fsync_dir
from edgeconsole.core.errors import Cancelled, JournalError
from edgeconsole.journal.csvsafe import write_csv
from edgeconsole.journal.db import connect
from edgeconsole.journal.fleet import FLEET_COLUMNS, fleet_json, fleet_rows, read_targets
from edgeconsole.journal.keys import ConsoleKey, public_pem
from edgeconsole.journal.otlp import gauge_lines, latency_histogram_lines, log_lines, resource
from edgeconsole.journal.settings import SiteSettings
from edgeconsole.journal.telemetry_sink import telemetry_files
from edgeconsole.journal.timebase import ns_to_iso, wall_ns

FORMAT = "edgeconsole-evidence-pack"
FORMAT_VERSION = 1
SUMS = "SHA256SUMS"
SIG = "SHA256SUMS.sig"
COMPLETE = "COMPLETE"
PUBKEY = "console_ed25519.pub.pem"
REPORT_SUFFIXES = frozenset({".html", ".json", ".pdf"})

#: The telemetry journal's tables as CSV: (progress stage, progress fraction, table,
#: columns). Every row starts with ts_ns, which the CSV repeats as an ISO time first.
TELEMETRY_TABLES: tuple[tuple[str, float, str, str], ...] = (
    ("results table", 0.02, "results", "ts_ns, target, frame_index, summary"),
    (
        "parts table",
        0.05,
        "parts",
        "ts_ns, target, part_id, verdict, passed, trigger, trigger_frame, decided_frame,"
        " decision_ms, late, score, note, provider, threads",
    ),
    (
        "PLC table",
        0.07,
        "plc_parts",
        "ts_ns, target, plc, seq, counter, part_id, verdict, class_id, label, decision_ms,"
        " trigger_to_result_ms, result_to_ack_ms, late, acked, handed_over, error",
    ),
    (
        "latency table",
        0.1,
        "latency",
        "ts_ns, target, frame_index, e2e_ms, unaccounted_ms, first_inference, capture_ms,"
        " preprocess_ms, infer_ms, postprocess_ms, overlay_ms",
    ),
    ("telemetry table", 0.2, "telemetry", "ts_ns, target, channel, value"),
)

Progress = Callable[[str, float], None]


@dataclass
class ExportRequest:
    out: Path
    since_ns: int | None = None
    until_ns: int | None = None
    targets: list[str] | None = None
    include_recordings: bool = True


@dataclass
class PackFile:
    path: str
    kind: str
    bytes: int
    sha256: str
    rows: int | None = None


@dataclass
class ExportResult:
    path: Path
    files: list[PackFile] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total_bytes(self) -> int:
        return sum(f.bytes for f in self.files)

    def rows(self, kind: str) -> int:
        return sum(f.rows or 0 for f in self.files if f.kind == kind)


class _HashingSink:
    def __init__(self, fh: Any) -> None:
        self.fh = fh
        self.h = hashlib.sha256()
        self.n = 0

    def write(self, data: bytes) -> None:
        self.h.update(data)
        self.fh.write(data)
        self.n += len(data)


def _where(
    since: int | None, until: int | None, targets: list[str] | None
) -> tuple[str, list[Any]]:
    parts: list[str] = []
    args: list[Any] = []
    if since is not None:
        parts.append("ts_ns >= ?")
        args.append(since)
    if until is not None:
        parts.append("ts_ns <= ?")
        args.append(until)
    if targets:
        parts.append(f"target IN ({','.join('?' * len(targets))})")
        args += targets
    return (" WHERE " + " AND ".join(parts)) if parts else "", args


class EvidencePackJob:
    """Build one pack from a journal directory (read-only; the journal may stay open)."""

    def __init__(
        self,
        journal_dir: Path,
        settings: SiteSettings,
        key: ConsoleKey,
        request: ExportRequest,
        *,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        self.journal_dir = Path(journal_dir)
        self.settings = settings
        self.key = key
        self.req = request
        self._progress = progress or (lambda stage, frac: None)
        self._cancel = cancel or threading.Event()
        self._files: list[PackFile] = []
        self._stage_dir: Path | None = None

    # ------------------------------------------------------------------ public
    def run(self) -> ExportResult:
        t0 = time.perf_counter()
        out = Path(self.req.out)
        if out.exists():
            raise JournalError(
                "export target already exists", subject=str(out), hint="choose a new folder name"
            )
        if not out.parent.is_dir():
            raise JournalError("export folder's parent does not exist", subject=str(out.parent))
        stage = out.parent / f".{out.name}.partial-{__import__('os').getpid()}"
        if stage.exists():
            shutil.rmtree(stage)
        stage.mkdir(mode=0o755)
        self._stage_dir = stage
        try:
            self._build(stage)
            stage.rename(out)
            fsync_dir(out.parent)
        except Cancelled:
            shutil.rmtree(stage, ignore_errors=True)
            raise
        except OSError as exc:
            raise JournalError(
                f"export failed: {exc.strerror or exc}",
                subject=str(out),
                hint="check free space on the target drive; the partial folder is not a valid pack",
            ) from exc
        return ExportResult(out, self._files, time.perf_counter() - t0)

    # ---------------------------------------------------------------- building
    def _check(self, stage: str, frac: float) -> None:
        if self._cancel.is_set():
            raise Cancelled("export cancelled", subject=str(self.req.out))
        self._progress(stage, frac)

    def _write(
        self, rel: str, kind: str, chunks: Iterable[bytes], rows: int | None = None
    ) -> PackFile:
        assert self._stage_dir is not None
        path = self._stage_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_writer(path) as fh:
            sink = _HashingSink(fh)
            for chunk in chunks:
                sink.write(chunk)
        pf = PackFile(rel, kind, sink.n, sink.h.hexdigest(), rows)
        self._files.append(pf)
        return pf

    def _csv(
        self, rel: str, kind: str, header: list[str], rows: Iterator[tuple[Any, ...]]
    ) -> PackFile:
        counter = [0]

        def chunks() -> Iterator[bytes]:
            buf = io.StringIO()
            write_csv(buf, header, [])
            pending = 0
            batch: list[tuple[Any, ...]] = []
            for row in rows:
                batch.append(row)
                pending += 1
                if pending >= 20_000:
                    self._check(f"writing {rel}", -1)
                    counter[0] += _rows_only(buf, batch)
                    yield buf.getvalue().encode("utf-8")
                    buf = io.StringIO()
                    batch = []
                    pending = 0
            counter[0] += _rows_only(buf, batch)
            yield buf.getvalue().encode("utf-8")

        pf = self._write(rel, kind, chunks())
        pf.rows = counter[0]
        return pf

    def _lines(self, rel: str, kind: str, lines: Iterator[str]) -> PackFile:
        def chunks() -> Iterator[bytes]:
            for line in lines:
                self._check(f"writing {rel}", -1)
                yield line.encode("utf-8")

        return self._write(rel, kind, chunks())

    def _telemetry_query(self, sql: str, args: list[Any]) -> Iterator[tuple[Any, ...]]:
        for path in telemetry_files(self.journal_dir):
            conn = connect(path, "NORMAL", readonly=True)
            try:
                try:
                    cur = conn.execute(sql, args)
                except sqlite3.OperationalError as exc:
                    if "no such table" in str(exc):
                        continue  # a file written before that table existed: nothing in it
                    raise
                while True:
                    rows = cur.fetchmany(10_000)
                    if not rows:
                        break
                    yield from rows
            except sqlite3.DatabaseError as exc:
                raise JournalError(f"cannot read telemetry: {exc}", subject=str(path)) from exc
            finally:
                conn.close()

    def _audit(self) -> sqlite3.Connection | None:
        path = self.journal_dir / "audit.db"
        return connect(path, "FULL", readonly=True) if path.exists() else None

    def _build(self, stage: Path) -> None:
        r = self.req
        where, args = _where(r.since_ns, r.until_ns, r.targets)
        res = resource(self.settings.site, self.settings.technician)
        for name, frac, table, cols in TELEMETRY_TABLES:
            self._check(name, frac)
            self._csv(
                f"tables/{table}.csv",
                table,
                ["time", *cols.replace(" ", "").split(",")],
                (
                    (ns_to_iso(row[0]), *row)
                    for row in self._telemetry_query(
                        f"SELECT {cols} FROM {table}{where} ORDER BY ts_ns", args
                    )
                ),
            )
        audit = self._audit()
        events: list[tuple[Any, ...]] = []
        fleet: dict[str, Any] = {"targets": [], "inconsistencies": []}
        recordings: list[tuple[Any, ...]] = []
        if audit is not None:
            try:
                events = audit.execute(
                    "SELECT ts_ns, level, kind, target, message, fields, site, technician"
                    " FROM events"
                    f"{where} ORDER BY id",
                    args,
                ).fetchall()
                fleet = fleet_json(read_targets(audit))
                recordings = audit.execute(
                    "SELECT path, target, started_ns, ended_ns FROM recordings ORDER BY started_ns"
                ).fetchall()
            except sqlite3.DatabaseError as exc:
                raise JournalError(
                    f"cannot read the audit journal: {exc}",
                    subject=str(self.journal_dir / "audit.db"),
                ) from exc
            finally:
                audit.close()
        self._check("audit log", 0.4)
        self._csv(
            "tables/audit.csv",
            "audit",
            ["time", "ts_ns", "level", "kind", "target", "message", "fields", "site", "technician"],
            ((ns_to_iso(e[0]), *e) for e in events),
        )
        self._csv(
            "tables/fleet.csv",
            "fleet",
            list(FLEET_COLUMNS),
            iter(fleet_rows(fleet)),
        )
        self._write(
            "fleet.json",
            "fleet",
            [json.dumps(fleet, indent=2, sort_keys=True).encode("utf-8") + b"\n"],
            rows=len(fleet["targets"]),
        )
        self._check("OpenTelemetry logs", 0.45)
        logs = self._lines(
            "otlp/logs.jsonl",
            "otlp-logs",
            log_lines(((e[0], e[1], e[2], e[3], e[4], e[5]) for e in events), res),
        )
        logs.rows = len(events)
        self._check("OpenTelemetry metrics", 0.55)

        def metric_lines() -> Iterator[str]:
            yield from latency_histogram_lines(
                self._telemetry_query(
                    "SELECT ts_ns, target, e2e_ms, unaccounted_ms, capture_ms, preprocess_ms,"
                    " infer_ms,"
                    f" postprocess_ms, overlay_ms FROM latency{where} ORDER BY ts_ns",
                    args,
                ),
                res,
            )
            yield from gauge_lines(
                self._telemetry_query(
                    f"SELECT ts_ns, target, channel, value FROM telemetry{where} ORDER BY ts_ns",
                    args,
                ),
                res,
            )

        self._lines("otlp/metrics.jsonl", "otlp-metrics", metric_lines())
        if r.include_recordings:
            self._copy_recordings(recordings)
        self._copy_reports()
        self._check("signing", 0.95)
        self._write(PUBKEY, "key", [public_pem(self.key.public)])
        manifest = self._manifest()
        self._write(
            "manifest.json",
            "manifest",
            [json.dumps(manifest, indent=2, sort_keys=True).encode("utf-8") + b"\n"],
        )
        sums = "".join(f"{f.sha256}  {f.path}\n" for f in sorted(self._files, key=lambda f: f.path))
        sums_bytes = sums.encode("utf-8")
        from edgeconsole.core.atomic import atomic_write

        atomic_write(stage / SUMS, sums_bytes)
        atomic_write(stage / SIG, self.key.sign(sums_bytes))
        complete = {
            "format": FORMAT,
            "sha256_of_SHA256SUMS": hashlib.sha256(sums_bytes).hexdigest(),
            "files": len(self._files),
            "completed": ns_to_iso(wall_ns()),
        }
        for sub in {p.parent for p in stage.rglob("*") if p.is_file()}:
            fsync_dir(sub)
        atomic_write(stage / COMPLETE, json.dumps(complete, indent=2).encode("utf-8") + b"\n")
        self._check("done", 1.0)

    def _copy_recordings(self, recordings: list[tuple[Any, ...]]) -> None:
        r = self.req
        chosen = []
        for path, target, started, ended in recordings:
            if r.targets and target not in r.targets:
                continue
            if r.until_ns is not None and started > r.until_ns:
                continue
            if r.since_ns is not None and ended is not None and ended < r.since_ns:
                continue
            if Path(path).is_file():
                chosen.append(Path(path))
        names: set[str] = set()
        for i, src in enumerate(chosen):
            self._check(f"recording {src.name}", 0.8 + 0.15 * i / max(1, len(chosen)))
            name = src.name
            n = 1
            while name in names:
                name = f"{src.stem}-{n}{src.suffix}"
                n += 1
            names.add(name)

            def chunks(src: Path = src) -> Iterator[bytes]:
                with open(src, "rb") as fh:
                    while block := fh.read(1 << 20):
                        self._check(f"recording {src.name}", -1)
                        yield block

            self._write(f"recordings/{name}", "recording", chunks())

    def _copy_reports(self) -> None:
        """Commissioning reports kept by ``edgeconsole validate`` (in the time range)."""
        folder = self.journal_dir.parent / "reports"
        if not folder.is_dir():
            return
        r = self.req
        for src in sorted(folder.iterdir()):
            if not src.is_file() or src.name.startswith(".") or src.suffix not in REPORT_SUFFIXES:
                continue
            mtime = src.stat().st_mtime_ns
            if (r.since_ns is not None and mtime < r.since_ns) or (
                r.until_ns is not None and mtime > r.until_ns
            ):
                continue
            self._write(f"reports/{src.name}", "report", [src.read_bytes()])

    def _manifest(self) -> dict[str, Any]:
        r = self.req
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created": ns_to_iso(wall_ns()),
            "console": {
                "app": "edgeconsole",
                "version": __version__,
                "key_fingerprint": self.key.fingerprint,
                "public_key": PUBKEY,
            },
            "site": self.settings.site,
            "technician": self.settings.technician,
            "range": {
                "since": ns_to_iso(r.since_ns) if r.since_ns is not None else None,
                "until": ns_to_iso(r.until_ns) if r.until_ns is not None else None,
            },
            "targets": r.targets or [],
            "contents": [
                {
                    "path": f.path,
                    "kind": f.kind,
                    "bytes": f.bytes,
                    "sha256": f.sha256,
                    **({"rows": f.rows} if f.rows is not None else {}),
                }
                for f in self._files
            ],
        }


def _rows_only(buf: io.StringIO, rows: list[tuple[Any, ...]]) -> int:
    import csv

    from edgeconsole.journal.csvsafe import safe_cell

    w = csv.writer(buf, lineterminator="\r\n")
    w.writerows([safe_cell(c) for c in row] for row in rows)
    return len(rows)
