"""Evidence pack: contents, peer checks (OTLP via opentelemetry-proto, sha256sum, openssl),
formula-safe CSV, tampering and interruption."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from edgeconsole.core.errors import JournalError
from edgeconsole.core.parts import PartDecision
from edgeconsole.journal.csvsafe import safe_cell
from edgeconsole.journal.export import EvidencePackJob, ExportRequest
from edgeconsole.journal.fleet import SlotRecord
from edgeconsole.journal.keys import ConsoleKey
from edgeconsole.journal.settings import SiteSettings
from edgeconsole.journal.verify import verify_pack
from tests.fixtures.journal import latency_for, result_for

REPO = Path(__file__).resolve().parents[2]


def part_for(i: int) -> PartDecision:
    missed = i % 4 == 3
    return PartDecision(
        part_id=i,
        verdict="missed" if missed else "ok",
        passed=not missed,
        trigger="line",
        trigger_frame=10 * i,
        decided_frame=10 * i,
        trigger_ns=1_000_000,
        decided_ns=3_500_000,
        box=(1.0, 2.0, 3.0, 4.0),
        note="left the view" if missed else "",
        provider="" if missed else "CPUExecutionProvider",
        threads=None if missed or i % 4 == 2 else 1,
    )


def _fill(journal, recording: Path | None = None) -> None:
    journal.set_site(SiteSettings("Plant 4", "Ana"))
    journal.audit.log("connection", "info", "gateway://10.0.0.5:8470", "connected", agent="0.1")
    journal.audit.log("flash", "error", "serial:///dev/ttyACM0", "=cmd|' /C calc'!A0", slot="B")
    journal.fleet.seen(
        "gw-1", hardware_id="imx8", slots=[SlotRecord("A", "CONFIRMED", "li", 3, "aa")]
    )
    journal.fleet.seen(
        "gw-2", hardware_id="imx8", slots=[SlotRecord("A", "CONFIRMED", "li", 4, "bb")]
    )
    now = time.time_ns()
    journal.telemetry.add_telemetry_rows(
        (now + i * 1000, "sim://", "ax", float(i)) for i in range(3000)
    )
    journal.telemetry.add_telemetry("sim://", "label", float("nan"))
    for i in range(200):
        journal.telemetry.add_result("local://", result_for(i), ts_ns=now + i * 33_000_000)
        journal.telemetry.add_latency("local://", latency_for(i), ts_ns=now + i * 33_000_000)
    for i in range(12):
        journal.telemetry.add_part("local://", part_for(i), ts_ns=now + i * 200_000_000)
    for i in range(5):
        rec = {
            "seq": i + 1,
            "trigger_ns": 1,
            "counter": i + 1,
            "part_id": i,
            "verdict": "NG" if i == 2 else "OK",
            "class_id": 2 if i == 2 else 0,
            "label": "rotated 180" if i == 2 else "ok",
            "decision_ms": 3.25,
            "trigger_to_result_ms": 4.5,
            "result_to_ack_ms": None if i == 4 else 6.0,
            "late": False,
            "acked": i != 4,
            "handed_over": True,
            "error": "no results_ack within 1000 ms" if i == 4 else "",
        }
        journal.telemetry.add_plc_part(
            "local://", "modbus://10.0.0.9:502", rec, ts_ns=now + i * 200_000_000
        )
    assert journal.telemetry.flush()
    if recording is not None:
        journal.record_recording(recording, "local://", now, now + 10**9, 30, 0)


@pytest.fixture
def pack(journal, journal_home: Path, make_recording, tmp_path: Path) -> Path:
    _fill(journal, make_recording(frames=20))
    out = tmp_path / "pack"
    EvidencePackJob(
        journal.dir, journal.site(), ConsoleKey.load_or_create(), ExportRequest(out)
    ).run()
    return out


def test_pack_is_complete_and_verifies(pack: Path, journal_home: Path) -> None:
    rep = verify_pack(pack)
    assert rep.ok, rep.problems
    assert rep.site == "Plant 4" and rep.technician == "Ana"
    names = {p.relative_to(pack).as_posix() for p in pack.rglob("*") if p.is_file()}
    assert {
        "COMPLETE",
        "SHA256SUMS",
        "SHA256SUMS.sig",
        "manifest.json",
        "fleet.json",
        "tables/results.csv",
        "tables/parts.csv",
        "tables/plc_parts.csv",
        "tables/latency.csv",
        "tables/telemetry.csv",
        "tables/audit.csv",
        "tables/fleet.csv",
        "otlp/logs.jsonl",
        "otlp/metrics.jsonl",
        "recordings/rec.mcap",
        "console_ed25519.pub.pem",
    } <= names
    man = json.loads((pack / "manifest.json").read_text())
    rows = {c["path"]: c.get("rows") for c in man["contents"]}
    assert rows["tables/telemetry.csv"] == 3001 and rows["tables/latency.csv"] == 200
    assert rows["tables/parts.csv"] == 12
    with (pack / "tables/parts.csv").open(newline="") as fh:
        parts = list(csv.DictReader(fh))
    assert parts[3]["part_id"] == "3" and parts[3]["verdict"] == "missed"
    assert parts[3]["decision_ms"] == "" and parts[3]["note"] == "left the view"
    assert parts[1]["verdict"] == "ok" and float(parts[1]["decision_ms"]) == 2.5
    # Which provider and thread count decided each part; nothing for a missed one.
    assert (parts[1]["provider"], parts[1]["threads"]) == ("CPUExecutionProvider", "1")
    assert (parts[2]["provider"], parts[2]["threads"]) == ("CPUExecutionProvider", "auto")
    assert (parts[3]["provider"], parts[3]["threads"]) == ("", "")
    assert rows["tables/plc_parts.csv"] == 5
    with (pack / "tables/plc_parts.csv").open(newline="") as fh:
        plc = list(csv.DictReader(fh))
    assert plc[2]["verdict"] == "NG" and plc[2]["label"] == "rotated 180"
    assert plc[2]["plc"] == "modbus://10.0.0.9:502" and plc[2]["target"] == "local://"
    assert plc[4]["acked"] == "0" and plc[4]["result_to_ack_ms"] == ""
    assert plc[4]["error"] == "no results_ack within 1000 ms"
    assert man["console"]["key_fingerprint"] == ConsoleKey.load_or_create().fingerprint
    fleet = json.loads((pack / "fleet.json").read_text())
    assert fleet["inconsistencies"] == [
        {"hardware_id": "imx8", "running": {"gw-1": ["li v3"], "gw-2": ["li v4"]}}
    ]
    gw1 = fleet["targets"][0]
    assert (gw1["identity"], gw1["hardware_id"], gw1["last_seen"][:2]) == ("gw-1", "imx8", "20")
    assert gw1["slots"] == [
        {
            "slot": "A",
            "state": "CONFIRMED",
            "bundle_id": "li",
            "bundle_version": 3,
            "bundle_hash": "aa",
        }
    ]
    with (pack / "tables/fleet.csv").open(newline="") as fh:
        fleet_csv = list(csv.DictReader(fh))
    assert [(r["identity"], r["slot"], r["bundle_version"]) for r in fleet_csv] == [
        ("gw-1", "A", "3"),
        ("gw-2", "A", "4"),
    ]
    key = journal_home / "console_ed25519.pem"
    assert (key.stat().st_mode & 0o777) == 0o600


def test_otlp_peer_parse_logs_and_metrics(pack: Path) -> None:
    logs = [
        json_format.Parse(line, ExportLogsServiceRequest())
        for line in (pack / "otlp/logs.jsonl").read_text().splitlines()
    ]
    records = [
        r
        for req in logs
        for rl in req.resource_logs
        for sl in rl.scope_logs
        for r in sl.log_records
    ]
    assert any(r.body.string_value == "connected" and r.severity_text == "INFO" for r in records)
    assert any(r.severity_number == 17 for r in records)
    res_attrs = {a.key: a.value.string_value for a in logs[0].resource_logs[0].resource.attributes}
    assert res_attrs["service.name"] == "edgeconsole" and res_attrs["edgeconsole.site"] == "Plant 4"
    metrics = [
        json_format.Parse(line, ExportMetricsServiceRequest())
        for line in (pack / "otlp/metrics.jsonl").read_text().splitlines()
    ]
    hist_points = []
    gauges = 0
    for req in metrics:
        for m in req.resource_metrics[0].scope_metrics[0].metrics:
            if m.HasField("histogram"):
                assert m.name == "edgeconsole.pipeline.latency" and m.unit == "ms"
                hist_points += list(m.histogram.data_points)
            elif m.HasField("gauge"):
                gauges += len(m.gauge.data_points)
    assert gauges == 3000  # the NaN reading is not a number a collector can take
    e2e = [
        p
        for p in hist_points
        if {a.key: a.value.string_value for a in p.attributes}["edgeconsole.stage"] == "e2e"
    ]
    assert sum(p.count for p in e2e) == 200
    for p in hist_points:
        assert (
            len(p.bucket_counts) == len(p.explicit_bounds) + 1 and sum(p.bucket_counts) == p.count
        )


def test_csv_is_formula_safe(pack: Path) -> None:
    with open(pack / "tables/audit.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    messages = [r["message"] for r in rows]
    assert "'=cmd|' /C calc'!A0" in messages
    for name in ("audit", "results", "latency", "telemetry", "fleet"):
        with open(pack / f"tables/{name}.csv", newline="") as fh:
            for row in csv.reader(fh):
                for cell in row:
                    if cell[:1] in ("=", "+", "@", "\t", "\r"):
                        raise AssertionError(f"{name}.csv cell may run as a formula: {cell!r}")
                    if cell.startswith("-"):
                        float(cell)  # only a plain negative number may start with '-'


@pytest.mark.parametrize(
    "value, expected",
    [
        ("=1+1", "'=1+1"),
        ("+SUM(A1)", "'+SUM(A1)"),
        ("-2+3", "'-2+3"),
        ("@x", "'@x"),
        ("\t=1", "'\t=1"),
        ("plain", "plain"),
        (-1.5, -1.5),
        (None, ""),
        (True, 1),
        ("＝1", "'＝1"),
    ],
)
def test_safe_cell(value, expected) -> None:
    assert safe_cell(value) == expected


def test_standard_tools_check_the_pack(pack: Path) -> None:
    if shutil.which("sha256sum"):
        r = subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=pack)
        assert r.returncode == 0
    if shutil.which("openssl"):
        r = subprocess.run(
            [
                "openssl",
                "pkeyutl",
                "-verify",
                "-pubin",
                "-inkey",
                "console_ed25519.pub.pem",
                "-rawin",
                "-in",
                "SHA256SUMS",
                "-sigfile",
                "SHA256SUMS.sig",
            ],
            cwd=pack,
            capture_output=True,
            text=True,
        )
        if "unknown option" not in r.stderr.lower():  # very old openssl without -rawin
            assert r.returncode == 0, r.stderr


def test_tamper_one_byte(pack: Path) -> None:
    p = pack / "tables/latency.csv"
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0x01
    p.write_bytes(bytes(data))
    rep = verify_pack(pack)
    assert not rep.ok and rep.problems == [
        "changed file: tables/latency.csv (checksum differs from SHA256SUMS)"
    ]


def test_tamper_remove_and_add(pack: Path) -> None:
    (pack / "recordings/rec.mcap").unlink()
    (pack / "tables/extra.csv").write_text("a,b\n")
    rep = verify_pack(pack)
    assert "missing file: recordings/rec.mcap (listed in SHA256SUMS)" in rep.problems
    assert any(p.startswith("unlisted file: tables/extra.csv") for p in rep.problems)
    assert len(rep.problems) == 2


def test_tamper_sums_and_signature(pack: Path) -> None:
    sums = pack / "SHA256SUMS"
    lines = sums.read_text().splitlines()
    sums.write_text("\n".join(lines[1:]) + "\n")  # hide a file from the list
    rep = verify_pack(pack)
    assert any("signature does not match" in p for p in rep.problems)
    assert any("COMPLETE does not match SHA256SUMS" in p for p in rep.problems)
    assert any(p.startswith("unlisted file:") for p in rep.problems)


def test_foreign_key_is_named(pack: Path, tmp_path: Path) -> None:
    other = ConsoleKey.load_or_create(tmp_path / "other")
    pem = tmp_path / "other.pub.pem"
    from edgeconsole.journal.keys import public_pem

    pem.write_bytes(public_pem(other.public))
    from edgeconsole.journal.pack_trust import trusted_keys

    keys, problems = trusted_keys([pem], own=False)
    assert not problems
    rep = verify_pack(pack, keys)
    # Signed by this console, checked against the other one only: the signer is named.
    assert any(
        p.startswith(f"signed by {ConsoleKey.load_or_create().fingerprint}, a key you do not trust")
        for p in rep.problems
    ), rep.problems


@pytest.mark.parametrize("line", ["../../etc/passwd", "/abs/path", "a/../../b", "x\\y"])
def test_unsafe_paths_in_sums_are_refused(pack: Path, line: str) -> None:
    with open(pack / "SHA256SUMS", "a") as fh:
        fh.write("0" * 64 + "  " + line + "\n")
    rep = verify_pack(pack)
    assert any("unsafe path" in p for p in rep.problems)


def test_malformed_sums_and_complete(pack: Path) -> None:
    (pack / "SHA256SUMS").write_bytes(b"\xff\xfe garbage\n")
    (pack / "COMPLETE").write_text("{not json")
    rep = verify_pack(pack)
    assert any("COMPLETE is damaged" in p for p in rep.problems)
    assert any("not UTF-8" in p for p in rep.problems)


def test_export_refuses_existing_target(journal, tmp_path: Path, journal_home: Path) -> None:
    out = tmp_path / "exists"
    out.mkdir()
    with pytest.raises(JournalError, match="already exists"):
        EvidencePackJob(
            journal.dir, journal.site(), ConsoleKey.load_or_create(), ExportRequest(out)
        ).run()


def test_time_range_and_target_filter(journal, tmp_path: Path, journal_home: Path) -> None:
    _fill(journal)
    now = time.time_ns()
    res = EvidencePackJob(
        journal.dir,
        journal.site(),
        ConsoleKey.load_or_create(),
        ExportRequest(tmp_path / "p", targets=["local://"], since_ns=now - 10**12),
    ).run()
    assert res.rows("telemetry") == 0 and res.rows("latency") == 200
    assert verify_pack(res.path).ok


def test_a_telemetry_file_older_than_a_table_exports(
    journal, tmp_path: Path, journal_home: Path
) -> None:
    """A file written before the PLC table existed (an older console) is read for what
    it has; the new table's CSV is empty, not an export failure."""
    import sqlite3

    _fill(journal)
    journal.close()
    for db in journal.dir.glob("telemetry-*.db"):
        conn = sqlite3.connect(db)
        conn.execute("DROP TABLE plc_parts")
        conn.commit()
        conn.close()
    res = EvidencePackJob(
        journal.dir, journal.site(), ConsoleKey.load_or_create(), ExportRequest(tmp_path / "p")
    ).run()
    assert res.rows("plc_parts") == 0 and res.rows("parts") == 12
    assert verify_pack(res.path).ok


_KILL_EXPORT = r"""
import os, signal, sys
from pathlib import Path
from edgeconsole.journal.export import EvidencePackJob, ExportRequest
from edgeconsole.journal.keys import ConsoleKey
from edgeconsole.journal.settings import SiteSettings
def progress(stage, frac):
    if stage.startswith(sys.argv[3]):
        os.kill(os.getpid(), signal.SIGKILL)   # pulled USB stick / killed process
EvidencePackJob(Path(sys.argv[1]), SiteSettings("S", "T"), ConsoleKey.load_or_create(),
                ExportRequest(Path(sys.argv[2])), progress=progress).run()
"""


@pytest.mark.parametrize("stage", ["OpenTelemetry metrics", "signing"])
def test_interrupted_export_never_looks_whole(
    journal, tmp_path: Path, journal_home: Path, stage: str
) -> None:
    _fill(journal)
    out = tmp_path / "pack"
    r = subprocess.run(
        [sys.executable, "-c", _KILL_EXPORT, str(journal.dir), str(out), stage],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert r.returncode == -signal.SIGKILL
    assert not out.exists()
    rep = verify_pack(out)
    assert not rep.ok and "does not exist" in rep.problems[0]
    partial = list(tmp_path.glob(".pack.partial-*"))
    assert len(partial) == 1
    rep = verify_pack(partial[0])
    assert rep.problems[0].startswith("no COMPLETE marker")


@pytest.mark.parametrize("name", ["COMPLETE", "manifest.json"])
def test_deeply_nested_pack_files_are_reported_not_raised(pack: Path, name: str) -> None:
    """Issue 13: a pack file of nested brackets raised RecursionError out of
    ``export verify``; it is now one line among the problems."""
    (pack / name).write_bytes(b"[" * 200_000 + b"]" * 200_000)
    rep = verify_pack(pack)
    assert not rep.ok
    assert any("nested deeper than 64 levels" in p for p in rep.problems), rep.problems
