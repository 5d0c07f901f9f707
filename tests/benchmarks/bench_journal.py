"""Journal benchmarks (not in the default run). Prints JSON with ratios against
baselines measured in the same run.

    .venv/bin/python -m tests.benchmarks.bench_journal [--rows 1000000] [--seconds 5]

1. Recording 30 fps 1280x720 frames with results, latency and telemetry: frames
   dropped and CPU cost (process CPU seconds per wall second), against a baseline
   of the same JPEG encoding alone.
2. Batched journal inserts through TelemetrySink (goal >= 100,000 rows/s) against a
   bare executemany into the same schema.
3. Exporting N telemetry rows (CSV + OTLP + sums + signature) against a plain
   sqlite3 dump (Connection.iterdump to a file) of the same rows.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import tempfile
import time
from pathlib import Path

import cv2


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def bench_recording(tmp: Path, seconds: float) -> dict[str, object]:
    from edgeconsole.core.clock import now_ns
    from edgeconsole.journal.recorder import McapRecorderSink
    from edgeconsole.sources.conveyor import SyntheticConveyorSource
    from tests.fixtures.journal import latency_for, result_for

    src = SyntheticConveyorSource(seed=1, width=1280, height=720, realtime=False, frames=90)
    src.open()
    frames = [f for f in iter(src.read, None)]
    src.close()
    n = int(seconds * 30)
    # Baseline: JPEG encoding alone at 30 fps worth of frames.
    c0, t0 = _cpu(), time.perf_counter()
    for i in range(n):
        cv2.imencode(".jpg", frames[i % len(frames)].image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    jpeg_cpu = _cpu() - c0
    jpeg_wall = time.perf_counter() - t0
    rec = McapRecorderSink(tmp / "bench.mcap")
    rec.start()
    c0, t0 = _cpu(), time.perf_counter()
    period = 1 / 30
    for i in range(n):
        due = t0 + i * period
        wait = due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)  # pacing the producer at 30 fps (benchmark, not a test)
        f = frames[i % len(frames)]
        f.index = i
        f.captured_ns = now_ns()
        rec.write_frame(f, result_for(i, 1280, 720), latency_for(i))
        rec.write_telemetry("sim://", {"ax": float(i), "ay": 0.5, "az": -0.2, "temp": 21.0})
    stats = rec.stop()
    wall = time.perf_counter() - t0
    cpu = _cpu() - c0
    return {
        "frames": stats.frames,
        "dropped": stats.dropped,
        "seconds": round(wall, 2),
        "fps_recorded": round(stats.frames / wall, 1),
        "cpu_cores_used": round(cpu / wall, 3),
        "cpu_ms_per_frame": round(cpu / max(1, stats.frames) * 1e3, 2),
        "baseline_jpeg_cpu_ms_per_frame": round(jpeg_cpu / n * 1e3, 2),
        "ratio_vs_jpeg_only": round(cpu / max(jpeg_cpu, 1e-9), 2),
        "jpeg_only_max_fps": round(n / jpeg_wall, 1),
        "mb_per_s": round(stats.bytes / wall / 1e6, 2),
    }


def bench_inserts(tmp: Path, rows: int) -> dict[str, object]:
    from edgeconsole.journal.notices import NoticeBoard
    from edgeconsole.journal.telemetry_sink import TelemetryLimits, TelemetrySink

    data = [
        (1_700_000_000_000_000_000 + i, "serial:///dev/ttyACM0", f"ch{i % 6}", float(i))
        for i in range(rows)
    ]
    # Baseline: one executemany in one transaction, same schema and pragmas.
    from edgeconsole.journal.db import open_checked
    from edgeconsole.journal.schema import TELEMETRY_MIGRATIONS

    conn, _ = open_checked(tmp / "base.db", "NORMAL", TELEMETRY_MIGRATIONS)
    t0 = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO telemetry VALUES (?,?,?,?)", data)
    conn.execute("COMMIT")
    base = time.perf_counter() - t0
    conn.close()
    sink_dir = tmp / "sink"
    sink_dir.mkdir()
    sink = TelemetrySink(sink_dir, NoticeBoard(), TelemetryLimits(queue_rows=rows + 1))
    t0 = time.perf_counter()
    for k in range(0, rows, 1000):  # callers hand over readings in small groups
        sink.add_telemetry_rows(data[k : k + 1000])
    sink.flush(600)
    dt = time.perf_counter() - t0
    h = sink.health()
    sink.close()
    return {
        "rows": rows,
        "sink_rows_per_s": round(rows / dt),
        "written": h.written,
        "dropped": h.dropped_queue,
        "baseline_executemany_rows_per_s": round(rows / base),
        "ratio_vs_baseline": round(base / dt, 3),
        "goal_rows_per_s": 100_000,
        "goal_met": rows / dt >= 100_000,
    }


def bench_export(tmp: Path, rows: int) -> dict[str, object]:
    from edgeconsole.journal.db import open_checked
    from edgeconsole.journal.export import EvidencePackJob, ExportRequest
    from edgeconsole.journal.journal import Journal
    from edgeconsole.journal.keys import ConsoleKey
    from edgeconsole.journal.schema import TELEMETRY_MIGRATIONS
    from edgeconsole.journal.settings import SiteSettings

    jdir = tmp / "journal"
    Journal.open(jdir).close()
    conn, _ = open_checked(jdir / "telemetry-000001.db", "NORMAL", TELEMETRY_MIGRATIONS)
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO telemetry VALUES (?,?,?,?)",
        (
            (1_700_000_000_000_000_000 + i * 1_000_000, "sim://", f"ch{i % 6}", i * 0.25)
            for i in range(rows)
        ),
    )
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    # Baseline: a plain sqlite3 dump of the same rows.
    t0 = time.perf_counter()
    src = sqlite3.connect(jdir / "telemetry-000001.db")
    with open(tmp / "dump.sql", "w") as fh:
        for line in src.iterdump():
            fh.write(line + "\n")
    src.close()
    dump = time.perf_counter() - t0
    key = ConsoleKey.load_or_create(tmp / "key")
    t0 = time.perf_counter()
    res = EvidencePackJob(
        jdir, SiteSettings("bench", "bench"), key, ExportRequest(tmp / "pack")
    ).run()
    exp = time.perf_counter() - t0
    t0 = time.perf_counter()
    from edgeconsole.journal.verify import verify_pack

    ok = verify_pack(tmp / "pack").ok
    ver = time.perf_counter() - t0
    return {
        "rows": rows,
        "export_s": round(exp, 2),
        "sqlite_dump_s": round(dump, 2),
        "ratio_export_vs_dump": round(exp / dump, 2),
        "pack_mb": round(res.total_bytes / 1e6, 1),
        "dump_mb": round((tmp / "dump.sql").stat().st_size / 1e6, 1),
        "verify_s": round(ver, 2),
        "verify_ok": ok,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--only", choices=["record", "insert", "export"])
    a = ap.parse_args()
    out: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if a.only in (None, "record"):
            (tmp / "r").mkdir()
            out["recording_30fps_720p"] = bench_recording(tmp / "r", a.seconds)
        if a.only in (None, "insert"):
            (tmp / "i").mkdir()
            out["batched_inserts"] = bench_inserts(tmp / "i", min(a.rows, 500_000))
        if a.only in (None, "export"):
            (tmp / "e").mkdir()
            out["export"] = bench_export(tmp / "e", a.rows)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
