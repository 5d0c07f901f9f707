"""The SQLite journal: WAL, durability classes, migrations, quarantine, rotation, headroom."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from edgeconsole.core.errors import ConfigError, JournalError
from edgeconsole.journal.db import migrate, open_checked
from edgeconsole.journal.fleet import SlotRecord
from edgeconsole.journal.journal import Journal
from edgeconsole.journal.notices import NoticeBoard
from edgeconsole.journal.schema import AUDIT_MIGRATIONS, TELEMETRY_MIGRATIONS
from edgeconsole.journal.settings import SettingsStore, SiteSettings
from edgeconsole.journal.telemetry_sink import TelemetryLimits, TelemetrySink
from tests.fixtures.journal import latency_for, result_for


def _wait(cond, timeout: float = 10.0) -> bool:
    ev = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if cond():
            return True
        ev.wait(0.01)
    return cond()


def test_wal_and_two_durability_classes(journal) -> None:
    assert journal.audit.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert journal.audit.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    tconn = journal.telemetry._conn
    assert tconn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert tconn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert journal.audit.conn.execute("PRAGMA user_version").fetchone()[0] == 3
    # 2: parts, 3: plc_parts, 4: the provider and threads of each part
    assert tconn.execute("PRAGMA user_version").fetchone()[0] == 4


def test_audit_entries_are_stamped_and_durable(journal, journal_home: Path) -> None:
    journal.set_site(SiteSettings("Plant 4", "Ana"))
    assert journal.audit.log(
        "flash", "info", "serial:///dev/ttyACM0", "slot B confirmed", bundle="digits", version=3
    )
    # A second connection (another process would see the same) reads it back at once.
    conn = sqlite3.connect(journal.dir / "audit.db")
    rows = conn.execute(
        "SELECT kind, target, message, site, technician FROM events WHERE kind='flash'"
    ).fetchall()
    conn.close()
    assert rows == [("flash", "serial:///dev/ttyACM0", "slot B confirmed", "Plant 4", "Ana")]
    found = journal.audit.entries(search="confirmed")
    assert len(found) == 1 and found[0].fields == {"bundle": "digits", "version": 3}
    assert journal.audit.entries(search="100%_") == []  # LIKE wildcards are escaped


def test_telemetry_results_latency_batched(journal) -> None:
    rows = [(1_000 + i, "sim://", "ax", float(i)) for i in range(5000)]
    journal.telemetry.add_telemetry_rows(rows)
    for i in range(10):
        journal.telemetry.add_result("local://", result_for(i))
        journal.telemetry.add_latency("local://", latency_for(i))
    assert journal.telemetry.flush(10)
    c = journal.telemetry._conn
    assert c.execute("SELECT count(*), sum(value) FROM telemetry").fetchone() == (
        5000,
        sum(range(5000)),
    )
    assert c.execute("SELECT count(*) FROM results").fetchone()[0] == 10
    e2e, infer, first = c.execute(
        "SELECT e2e_ms, infer_ms, first_inference FROM latency WHERE frame_index=0"
    ).fetchone()
    assert (e2e, infer, first) == (latency_for(0).e2e_ms, 5.0, 1)
    h = journal.health().telemetry
    assert h.state == "running" and h.written == 5020 and h.dropped_queue == 0


def test_full_queue_drops_are_counted(tmp_path: Path) -> None:
    sink = TelemetrySink(tmp_path, NoticeBoard(), TelemetryLimits(queue_rows=10, flush_s=0.05))
    try:
        sink._stop.set()  # writer exits: nothing drains the queue
        sink._thread.join(5)
        sink.add_telemetry_rows((i, "t", "c", 1.0) for i in range(25))
        assert sink.dropped_queue == 15
    finally:
        sink._stop.set()


def test_migration_from_older_version_keeps_rows(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    conn, _ = open_checked(path, "FULL", AUDIT_MIGRATIONS[:1])  # an app that only knew v1
    conn.execute("INSERT INTO events(ts_ns, level, kind, message) VALUES (1,'info','x','old row')")
    conn.close()
    conn, moved = open_checked(path, "FULL", AUDIT_MIGRATIONS)
    assert moved is None
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
    assert conn.execute("SELECT message FROM events").fetchall() == [("old row",)]
    assert conn.execute("SELECT count(*) FROM targets").fetchone()[0] == 0
    conn.close()


def test_parts_of_a_v3_journal_keep_their_rows_and_gain_provider_columns(tmp_path: Path) -> None:
    path = tmp_path / "telemetry-000001.db"
    conn, _ = open_checked(path, "NORMAL", TELEMETRY_MIGRATIONS[:3])  # before provider/threads
    conn.execute(
        "INSERT INTO parts(ts_ns, target, part_id, verdict, passed, trigger, trigger_frame,"
        " decided_frame) VALUES (1, 'local://', 7, 'ok', 1, 'line', 3, 3)"
    )
    conn.close()
    conn, _ = open_checked(path, "NORMAL", TELEMETRY_MIGRATIONS)
    rows = conn.execute("SELECT part_id, verdict, provider, threads FROM parts").fetchall()
    assert rows == [(7, "ok", "", "")]
    conn.close()


def test_newer_schema_is_refused_not_downgraded(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version=99")
    conn.close()
    with pytest.raises(JournalError, match="newer than this app"):
        open_checked(path, "NORMAL", TELEMETRY_MIGRATIONS)


def test_failed_migration_rolls_back(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "m.db", isolation_level=None)
    bad = ((1, "CREATE TABLE a(x);"), (2, "CREATE TABLE b(x); CREATE TABLE a(y);"))
    with pytest.raises(sqlite3.OperationalError):
        migrate(conn, bad, tmp_path / "m.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert names == {"a"}


@pytest.mark.parametrize("damage", ["garbage", "truncated_page", "zero_header"])
def test_corrupt_journal_is_quarantined_and_person_told(journal_home: Path, damage: str) -> None:
    jdir = journal_home / "journal"
    j = Journal.open(jdir)
    for i in range(200):
        j.audit.log("connection", "info", "sim://", f"entry {i} " + "x" * 200)
    j.close()
    audit = jdir / "audit.db"
    data = bytearray(audit.read_bytes())
    if damage == "garbage":
        data = bytearray(b"this is not a database at all" * 100)
    elif damage == "truncated_page":
        data[4096 : 4096 * 2] = b"\xff" * 4096  # the events table root page
    else:
        data[:100] = b"\x00" * 100
    audit.write_bytes(bytes(data))
    j2 = Journal.open(jdir)
    try:
        notices = j2.notices.drain()
        assert any(n.level == "error" and "moved aside" in n.text for n in notices), notices
        moved = [
            p for p in jdir.glob("audit.db.corrupt-*") if not p.name.endswith(("-wal", "-shm"))
        ]
        assert moved, "damaged file kept for support"
        assert moved[0].read_bytes()[:100] == bytes(data[:100])
        entries = j2.audit.entries()
        assert entries[-1].kind == "journal" and "damaged" in entries[-1].message
        assert j2.audit.log("connection", "info", "sim://", "after quarantine")
    finally:
        j2.close()


def test_rotation_by_whole_file_and_pruning(tmp_path: Path) -> None:
    board = NoticeBoard()
    limits = TelemetryLimits(
        max_file_bytes=64 * 1024, max_total_bytes=200 * 1024, batch_rows=500, flush_s=0.01
    )
    sink = TelemetrySink(tmp_path, board, limits)
    try:
        for k in range(40):
            sink.add_telemetry_rows(
                (k * 1000 + i, "sim://", "channel-name", float(i)) for i in range(500)
            )
            assert sink.flush(10)
        files = sink.files()
        assert len(files) >= 2
        assert files[0].name != "telemetry-000001.db"  # the oldest whole files were deleted
        total = sum(p.stat().st_size for p in files)
        assert total <= limits.max_total_bytes + limits.max_file_bytes * 2
        for p in files:  # every remaining file is whole and sound
            c = sqlite3.connect(p)
            assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            c.close()
        assert any("deleted" in n.text for n in board.drain())
    finally:
        sink.close()


def test_headroom_stops_telemetry_then_resumes(tmp_path: Path) -> None:
    free = [10**9]
    board = NoticeBoard()
    sink = TelemetrySink(
        tmp_path,
        board,
        TelemetryLimits(headroom_bytes=10**6, flush_s=0.01, probe_s=0.01),
        free_space=lambda p: free[0],
    )
    try:
        sink.add_telemetry("sim://", "ax", 1.0)
        assert sink.flush()
        free[0] = 10**5  # under the headroom
        sink.add_telemetry("sim://", "ax", 2.0)
        assert sink.flush()
        h = sink.health()
        assert h.state == "stopped" and "headroom" in h.reason and h.lost_disk == 1
        assert any(n.level == "error" and "stopped" in n.text for n in board.drain())
        free[0] = 10**9
        sink.add_telemetry("sim://", "ax", 3.0)
        assert sink.flush()
        assert _wait(lambda: sink.health().state == "running")
        assert any("resumed" in n.text for n in board.drain())
        rows = sink._conn.execute("SELECT value FROM telemetry ORDER BY value").fetchall()
        assert rows == [(1.0,), (3.0,)]
    finally:
        sink.close()


def test_fleet_inventory_flags_mixed_versions(journal) -> None:
    fleet = journal.fleet
    fleet.seen(
        "gw-1",
        hardware_id="imx8-qc",
        kind="gateway",
        slots=[
            SlotRecord("A", "CONFIRMED", "label-inspector", 3, "aa" * 32),
            SlotRecord("B", "STAGED", "label-inspector", 4, "bb" * 32),
        ],
    )
    fleet.seen(
        "gw-2",
        hardware_id="imx8-qc",
        kind="gateway",
        slots=[SlotRecord("A", "CONFIRMED", "label-inspector", 3, "aa" * 32)],
    )
    fleet.seen("mcu-1", hardware_id="nrf52840", slots=[SlotRecord("0", "CONFIRMED", "digits", 1)])
    assert fleet.inconsistencies() == []  # staged v4 is not running yet
    fleet.seen("gw-2", slots=[SlotRecord("A", "CONFIRMED", "label-inspector", 4, "bb" * 32)])
    flags = fleet.inconsistencies()
    assert len(flags) == 1 and flags[0].hardware_id == "imx8-qc"
    assert "label-inspector v3" in flags[0].text() and "label-inspector v4" in flags[0].text()
    targets = {t.identity: t for t in fleet.targets()}
    assert targets["gw-2"].hardware_id == "imx8-qc"  # kept when a later sighting omits it
    assert targets["gw-2"].last_seen_ns >= targets["gw-2"].first_seen_ns


@pytest.mark.parametrize(
    "content, match",
    [
        (b"{not json", "not valid JSON"),
        (b"[1,2]", "JSON object"),
        (b'{"site": 5}', "must be text"),
        (b'{"site": "' + b"x" * 300 + b'"}', "longer than"),
        (b" " * 70_000, "too large"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_settings_store_refuses_bad_files(tmp_path: Path, content: bytes, match: str) -> None:
    p = tmp_path / "site.json"
    p.write_bytes(content)
    with pytest.raises(ConfigError, match=match):
        SettingsStore(p).load()


def test_settings_roundtrip_and_first_run(tmp_path: Path) -> None:
    store = SettingsStore(tmp_path / "site.json")
    assert not store.exists() and not store.load().complete
    saved = store.save(SiteSettings("  Plant\n4 ", "Ana\tB"))
    assert saved == SiteSettings("Plant 4", "Ana B")
    assert store.load() == saved and store.load().complete


def test_damaged_settings_do_not_stop_the_journal(journal_home: Path) -> None:
    (journal_home / "site.json").write_bytes(b"{broken")
    j = Journal.open(journal_home / "journal")
    try:
        assert j.site() == SiteSettings()
        assert j.audit.log("x", "info", "", "still logging")
    finally:
        j.close()
