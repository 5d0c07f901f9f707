"""validate --plc: the line PLC's handshake, watched read-only, as commissioning criteria."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edgeconsole.commission import verify_report, write_report
from edgeconsole.commission.line_job import LineValidationJob, LineValidationRequest
from edgeconsole.commission.plc_check import PlcCheckRequest
from edgeconsole.core.errors import PlcDisconnected
from edgeconsole.devices.plc.plcmap import load_map, sample_map_path
from edgeconsole.devices.plc.service import HandshakeService
from edgeconsole.sim.plc import Misbehaviour, VirtualPlc
from edgeconsole.sources.belt import BeltTiming
from tests.commission.helpers import LABEL_MODEL
from tests.commission.test_line_validate import PPM, SOURCE, truth_rows, write_truth
from tests.fixtures.plc import AlternatingDecider

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("plc")]


def line_with_camera(**misbehave: Any) -> Iterator[VirtualPlc]:
    """The line PLC and a camera already answering it (what commissioning finds)."""
    plc = VirtualPlc(
        load_map(sample_map_path()),
        belt=BeltTiming.for_frame(1280, 720, parts_per_min=300),
        port=0,
        misbehave=Misbehaviour(**misbehave),
    )
    plc.start()
    cam = HandshakeService(f"modbus://127.0.0.1:{plc.port}", plc.map, AlternatingDecider())
    cam.start()
    try:
        yield plc
    finally:
        cam.stop()
        plc.stop()


@pytest.fixture
def good_line() -> Iterator[VirtualPlc]:
    yield from line_with_camera()


@pytest.fixture
def unacked_line() -> Iterator[VirtualPlc]:
    yield from line_with_camera(no_ack_every=3)


def run(tmp_path: Path, plc: VirtualPlc) -> Any:
    truth = write_truth(tmp_path / "parts.csv", truth_rows())
    req = LineValidationRequest(
        "local://",
        LABEL_MODEL,
        SOURCE,
        truth,
        line_rate=PPM,
        budget_ms=60_000.0,
        plc=PlcCheckRequest(f"modbus://127.0.0.1:{plc.port}", sample_map_path(), min_parts=8),
    )
    return LineValidationJob(req).run()


def test_a_line_whose_every_part_is_answered_passes(tmp_path: Path, good_line: VirtualPlc) -> None:
    res = run(tmp_path, good_line)
    d = res.data
    plc = {c["name"]: c for c in d["criteria"] if c["name"].startswith("PLC")}
    assert set(plc) == {"PLC: every part answered", "PLC: trigger → result p99", "PLC: mismatches"}
    assert plc["PLC: every part answered"]["passed"], plc
    assert plc["PLC: mismatches"]["passed"], plc
    assert d["plc"]["counters"]["triggers"] >= 8
    written = write_report(res, tmp_path / "line.html", keep_for_pack=False)
    html = written.html.read_text()
    assert "Reject gate (PLC handshake)" in html and "trigger → results ready" in html
    assert verify_report(written.html).valid


def test_missing_acks_fail_the_line(tmp_path: Path, unacked_line: VirtualPlc) -> None:
    res = run(tmp_path, unacked_line)
    d = res.data
    crit = next(c for c in d["criteria"] if c["name"] == "PLC: every part answered")
    assert not crit["passed"] and "missing acks" in crit["margin"], crit
    assert d["verdict"] == "FAIL"
    assert d["plc"]["counters"]["missing_acks"] >= 1


def test_an_unreachable_plc_is_refused_before_the_run(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    truth = write_truth(tmp_path / "parts.csv", truth_rows())
    req = LineValidationRequest(
        "local://",
        LABEL_MODEL,
        SOURCE,
        truth,
        plc=PlcCheckRequest(f"modbus://127.0.0.1:{port}", sample_map_path()),
    )
    job = LineValidationJob(req)
    with pytest.raises(PlcDisconnected, match="cannot reach the PLC"):
        job.prepare()
    assert job.frames_read == 0


def test_cli_wants_plc_and_map_together(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from edgeconsole.cli.main import main as cli_main

    truth = write_truth(tmp_path / "parts.csv", truth_rows())
    code = cli_main(
        [
            "validate",
            "local://",
            "--bundle",
            str(LABEL_MODEL),
            "--source",
            SOURCE,
            "--truth",
            str(truth),
            "--report",
            str(tmp_path / "r.html"),
            "--plc",
            "modbus://127.0.0.1:5020",
        ]
    )
    assert code != 0 and "--plc and --plc-map go together" in capsys.readouterr().err
