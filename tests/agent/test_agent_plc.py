"""``agent --plc``: the gateway's camera line answers the line PLC (the virtual PLC on the
same belt the agent's camera films), over real Modbus TCP on loopback."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from edgeconsole.devices.plc.part_gate import CLASS_IDS
from edgeconsole.devices.plc.plcmap import load_map, sample_map_path
from edgeconsole.session.agent_ports import build_ports
from edgeconsole.sim.plc import VirtualPlc
from edgeconsole.sources.conveyor import VERDICTS, part_spec
from edgeconsole.sources.photo_eye import belt_for_source
from tests.fixtures.plc import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("plc")]

REPO = Path(__file__).resolve().parents[2]
TRUST = REPO / "sample_models" / "trust"
BUNDLE = REPO / "sample_models" / "bundles" / "label-orientation-1.ecb"
HW = "gateway-x86_64"
SEED = 3
CAMERA = f"synthetic:conveyor?seed={SEED}&fps=20&ppm=120&width=640&height=360&clock=1"


@pytest.fixture(autouse=True)
def _config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGECONSOLE_CONFIG_DIR", str(tmp_path / "config"))


def test_the_gateway_answers_its_plc_with_each_parts_decision(tmp_path: Path) -> None:
    from edgeconsole.agent.app import AgentConfig
    from edgeconsole.agent.server import BackgroundAgent

    belt, _fps = belt_for_source(CAMERA, "the virtual PLC")
    plc = VirtualPlc(load_map(sample_map_path()), belt=belt, port=0, epoch_ns=0)
    plc.start()
    token = secrets.token_urlsafe(24)
    data = tmp_path / "agent"
    data.mkdir()
    cfg = AgentConfig(
        data_dir=data,
        token=token,
        port=0,
        hardware_id=HW,
        cameras=[CAMERA],
        trigger="external",
        plc=f"modbus://127.0.0.1:{plc.port}",
        plc_map=str(sample_map_path()),
    )
    bg = BackgroundAgent(cfg, build_ports(TRUST, HW))
    bg.start()
    try:
        # Before the camera has a per-part model, trigger_ready stays low: parts pass.
        wait_for(lambda: plc.stats.not_ready >= 1)
        assert plc.stats.triggers == 0
        assert bg.agent.repository.set_slot_model(BUNDLE) is not None
        wait_for(lambda: plc.stats.acks >= 6, 90)
        req = urllib.request.Request(
            f"http://127.0.0.1:{bg.port}/v2/edgeconsole/plc",
            headers={"Authorization": f"Bearer {token}"},
        )
        with urllib.request.urlopen(req, timeout=10) as rsp:
            status = json.loads(rsp.read())
    finally:
        bg.stop()
        plc.stop()
    assert status["plc"] == f"modbus://127.0.0.1:{plc.port}" and status["error"] is None
    records = {r["counter"]: r for r in status["parts"]}
    right = checked = 0
    for p in (p for p in plc.stats.history if p.outcome == "answered"):
        rec = records.get(p.counter)
        if rec is None or rec["verdict"] == "ERROR":
            continue
        checked += 1
        assert p.verdict == rec["verdict"] and p.class_id == CLASS_IDS.get(rec["label"], 99)
        right += rec["label"] == VERDICTS[part_spec(SEED, p.part).label]
    assert checked >= 5 and right >= checked - 1, (right, checked, status["counters"])
    assert status["counters"]["decide_errors"] == 0, status
    journal = (data / "journal.jsonl").read_text()
    assert "reject gate: camera 0 answers PLC" in journal and "connected" in journal
    assert "reject gate stopped" in journal


def test_agent_refuses_a_plc_without_map_or_camera(tmp_path: Path) -> None:
    base = [sys.executable, "-m", "edgeconsole.launcher", "agent", "--port", "0"]
    base += ["--data-dir", str(tmp_path / "a"), "--trust-dir", str(TRUST)]
    no_map = subprocess.run(
        [*base, "--camera", CAMERA, "--plc", "modbus://127.0.0.1:5020"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert no_map.returncode != 0 and "--plc needs --plc-map" in no_map.stderr
    no_camera = subprocess.run(
        [*base, "--plc", "modbus://127.0.0.1:5020", "--plc-map", str(sample_map_path())],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert no_camera.returncode != 0 and "the agent has 0 camera(s)" in no_camera.stderr
