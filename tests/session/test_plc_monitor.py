"""The session's PLC monitor: read-only watching, the shadow run's verdict next to the
PLC's, the armed test mode, and ``plc watch`` from the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edgeconsole.devices.plc.plcmap import load_map, sample_map_path
from edgeconsole.devices.plc.service import HandshakeService
from edgeconsole.journal.journal import Journal
from edgeconsole.session.session import Session
from edgeconsole.sim.plc import VirtualPlc
from edgeconsole.sources.belt import BeltTiming
from tests.fixtures.plc import AlternatingDecider, wait_for

pytestmark = [pytest.mark.xdist_group("plc")]

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "sample_models" / "bundles" / "label-orientation-1.ecb"
TRUST = REPO / "sample_models" / "trust"


def plc_on_belt(ppm: float = 120, **kw) -> VirtualPlc:  # type: ignore[no-untyped-def]
    plc = VirtualPlc(
        load_map(sample_map_path()),
        belt=BeltTiming.for_frame(1280, 720, parts_per_min=ppm),
        port=0,
        epoch_ns=0,
        **kw,
    )
    plc.start()
    return plc


def spy_writes(plc: VirtualPlc) -> list[int]:
    """Function codes of every write request the PLC receives from now on."""
    writes: list[int] = []
    memory = plc.memory
    original = memory._on_access  # type: ignore[attr-defined]

    async def spy(fc, start, address, count, regs, values):  # type: ignore[no-untyped-def]
        if values is not None:
            writes.append(fc)
        return await original(fc, start, address, count, regs, values)

    for rt in memory._server.context.devices.values():  # type: ignore[attr-defined]
        rt.action = spy
    return writes


@pytest.mark.slow
def test_shadow_run_puts_the_cameras_verdict_next_to_the_plcs() -> None:
    """A camera (answering every third part NG, whatever the part) speaks to the PLC; the
    laptop watches read-only and runs its own line on the same belt: where the PLC holds
    a verdict the laptop's decision disagrees with, that is a mismatch."""
    plc = plc_on_belt()
    camera = HandshakeService(
        f"modbus://127.0.0.1:{plc.port}", plc.map, AlternatingDecider(), timeout_s=5
    )
    camera.start()
    session = Session(journal=Journal.open(), trust_dir=TRUST)
    try:
        session.start_local("synthetic:conveyor?seed=7&ppm=120&clock=1", str(BUNDLE))
        session.start_plc(f"modbus://127.0.0.1:{plc.port}", sample_map_path(), "watch")

        # poll() is what moves parts into the view (as the window's timer does).
        def matched() -> int:
            session.poll()
            rows = session.plc.rows
            return sum(r.camera_verdict is not None and r.outcome == "answered" for r in rows)

        wait_for(lambda: matched() >= 6, 90)
        summary = session.plc.summary()
    finally:
        session.close()
        camera.stop()
        plc.stop()
    rows = [r for r in summary["parts"] if r["outcome"] == "answered"]
    matched = [r for r in rows if r["camera_verdict"] is not None]
    # Parts the PLC triggered before the laptop's line ran have no camera verdict.
    assert len(matched) >= 6, rows
    for r in matched:
        differs = r["camera_verdict"] != r["plc_verdict"]
        assert bool(r["mismatch"]) is differs, r
        assert r["label"]  # the laptop's reason: "ok", "rotated 180", ...
    assert summary["counters"]["mismatches"] >= sum(
        r["camera_verdict"] != r["plc_verdict"] for r in matched
    )
    assert summary["role"] == "watch" and summary["resolution_ms"] >= 1.0
    # What was watched is evidence: the journal's plc_parts table has it.
    import sqlite3

    from edgeconsole.journal.paths import journal_dir

    rows = []
    for db in journal_dir().glob("telemetry-*.db"):
        conn = sqlite3.connect(db)
        rows += conn.execute("SELECT target, verdict, label FROM plc_parts").fetchall()
        conn.close()
    assert len(rows) >= 6 and {r[0] for r in rows} == {"plc-watch"}
    assert any(r[2].startswith(("OK ", "NG ")) for r in rows)  # the camera's verdict


def test_watching_never_writes_and_arming_does(tmp_path: Path) -> None:
    plc = plc_on_belt(ppm=600)
    writes = spy_writes(plc)
    session = Session(journal=Journal.open())
    try:
        session.start_plc(f"modbus://127.0.0.1:{plc.port}", sample_map_path(), "watch")
        wait_for(lambda: session.plc.watch.watcher.counters.polls >= 50)
        assert writes == []
        session.start_plc(
            f"modbus://127.0.0.1:{plc.port}", sample_map_path(), "test", test_pattern="ng"
        )
        wait_for(lambda: plc.stats.acks >= 3)
        snap = session.poll().plc
        assert snap is not None and snap.role == "test"
        assert snap.counters["triggers"] >= 3 and snap.edges
    finally:
        session.close()
        plc.stop()
    assert writes  # armed, it answered
    answered = [p for p in plc.stats.history if p.outcome == "answered"]
    assert answered and {p.verdict for p in answered} == {"NG"}
    audit = Journal.open()
    try:
        texts = [
            r[0] for r in audit.audit.conn.execute("SELECT message FROM events WHERE kind='plc'")
        ]
    finally:
        audit.close()
    assert any("read-only" in t for t in texts)
    assert any("test mode ARMED" in t and "writes to the PLC" in t for t in texts)


def test_plc_watch_cli_armed_answers_and_reports_json() -> None:
    plc = plc_on_belt(ppm=600)
    try:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "edgeconsole.launcher",
                "plc",
                "watch",
                f"modbus://127.0.0.1:{plc.port}",
                "--map",
                str(sample_map_path()),
                "--arm",
                "alternate",
                "--seconds",
                "3",
                "--json",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        plc.stop()
    assert proc.returncode == 0, proc.stderr
    assert "TEST MODE ARMED" in proc.stderr
    s = json.loads(proc.stdout)
    assert s["role"] == "test" and s["counters"]["answered"] >= 3
    verdicts = [p["plc_verdict"] for p in s["parts"] if p["outcome"] == "answered"]
    assert "OK" in verdicts and "NG" in verdicts
    assert set(s["parts"][0]) >= {
        "counter",
        "trigger_to_result_ms",
        "result_to_ack_ms",
        "plc_verdict",
        "camera_verdict",
        "late",
    }
    assert set(s["trigger_to_result_ms"]) == {"p50", "p99", "max"}


def test_arm_and_shadow_together_are_refused() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "edgeconsole.launcher",
            "plc",
            "watch",
            "modbus://127.0.0.1:1",
            "--map",
            str(sample_map_path()),
            "--arm",
            "ok",
            "--shadow",
            "synthetic:conveyor",
            "--model",
            str(BUNDLE),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0 and "use one of them" in proc.stderr
