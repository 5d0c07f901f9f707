"""``edgeconsole run --json`` of a per-part line, on the laptop and on a gateway's camera:
the same ``parts``, ``decision_ms`` and ``parts_decided`` (issue 12, Headless output)."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import pytest

from edgeconsole.cli.main import main as cli_main
from edgeconsole.session.agent_ports import build_ports
from edgeconsole.session.gateway_stream import stream_spec
from tests.commission.helpers import REPO, TRUST, flash_confirmed, mcu_fast_bundle

BUNDLE = REPO / "sample_models" / "bundles" / "label-orientation-1.ecb"
HW = "gateway-x86_64"
PART_KEYS = {"id", "verdict", "trigger_frame", "decision_ms", "late", "provider", "threads"}


def _check(out: dict[str, Any]) -> list[dict[str, Any]]:
    parts = out["parts"]
    decided = [p for p in parts if p["verdict"] != "missed"]
    assert decided and out["parts_decided"] == len(decided)
    assert len({p["id"] for p in parts}) == len(parts)  # one record per physical part
    for p in decided:
        assert set(p) >= PART_KEYS
        assert p["late"] is (p["decision_ms"] > p["budget_ms"])  # by its budget, not a clock
        assert p["provider"] == "CPUExecutionProvider"
    d = out["decision_ms"]
    assert set(d) == {"p50", "p90", "p99", "max"} and d["p50"] <= d["p99"] <= d["max"]
    return decided


def test_run_json_on_the_laptop(capsys: pytest.CaptureFixture[str]) -> None:
    src = "synthetic:conveyor?seed=7&frames=90&ppm=300"
    args = ["run", "--source", src, "--model", str(BUNDLE), "--trust", str(TRUST), "--json"]
    assert cli_main(args) == 0
    out = json.loads(capsys.readouterr().out)
    decided = _check(out)
    assert {p["trigger"] for p in decided} == {"line"} and len(decided) >= 5
    assert all(p["threads"] == out["runtime"]["threads"] for p in decided)


def test_run_json_on_a_gateway_camera(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The gateway decides each part; ``run`` on its stream prints them (the token is
    the one remembered for the gateway, as after ``devices connect``)."""
    from edgeconsole.agent.app import AgentConfig
    from edgeconsole.agent.server import BackgroundAgent
    from edgeconsole.devices.gateway.tokens import remember

    monkeypatch.setenv("EDGECONSOLE_CONFIG_DIR", str(tmp_path / "config"))
    token = secrets.token_urlsafe(24)
    data = tmp_path / "agent"
    data.mkdir()
    camera = "synthetic:conveyor?seed=3&fps=20&ppm=300&width=640&height=360&clock=1"
    cfg = AgentConfig(data_dir=data, token=token, port=0, hardware_id=HW, cameras=[camera])
    bg = BackgroundAgent(cfg, build_ports(TRUST, HW))
    bg.start()
    try:
        # The bundle as the running slot's model (not flashed: its trial health check
        # holds it to a 5 ms p95 that a loaded test machine may miss).
        assert bg.agent.repository.set_slot_model(BUNDLE) is not None
        url = f"gateway://127.0.0.1:{bg.port}"
        remember(f"127.0.0.1:{bg.port}", token)
        args = ["run", "--source", stream_spec(url, 0), "--model", "-", "--seconds", "8"]
        assert cli_main([*args, "--json"]) == 0
    finally:
        bg.stop()
    out = json.loads(capsys.readouterr().out)
    _check(out)
    assert out["line"]["counters"]["frames"] > 0  # the gateway's own line counters


def test_run_json_with_parts_decided_on_a_serial_device(
    serial_device: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``run --target serial://``: the laptop tracks the parts and cuts their crops; the
    device's own model decides each one over SMP (its decision time is the round trip)."""
    bundle = mcu_fast_bundle(tmp_path)
    device = serial_device()
    flash_confirmed(device.path, bundle)
    capsys.readouterr()  # the build's own output
    src = "synthetic:conveyor?seed=7&frames=90&ppm=300"
    target = f"serial://{device.path}"
    args = ["run", "--source", src, "--model", str(bundle), "--trust", str(TRUST)]
    assert cli_main([*args, "--target", target, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    parts = out["parts"]
    decided = [p for p in parts if p["verdict"] != "missed"]
    assert len(decided) >= 5 and out["parts_decided"] == len(decided)
    assert all(p["provider"].startswith(f"serial {target}") for p in decided), decided[0]
    assert out["target"] == target and out["runtime"]["device"]["kind"] == "serial"
    assert " · parts decided on serial://" in out["model"]
    # The same video decided on the laptop: the same parts, the same verdicts.
    assert cli_main([*args, "--json"]) == 0
    local = json.loads(capsys.readouterr().out)["parts"]
    assert [(p["trigger_frame"], p["verdict"]) for p in parts] == [
        (p["trigger_frame"], p["verdict"]) for p in local
    ]


def test_run_target_refuses_a_frame_model_and_a_missing_device(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.commission.helpers import DIGITS_BUNDLE

    src = "synthetic:conveyor?seed=7&frames=30"
    base = ["run", "--source", src, "--trust", str(TRUST), "--target"]
    assert cli_main([*base, f"serial://{tmp_path}/nothing", "--model", str(DIGITS_BUNDLE)]) != 0
    err = capsys.readouterr().err
    assert "decides frames, not parts" in err and "validate" in err
    assert cli_main([*base, f"serial://{tmp_path}/nothing", "--model", str(BUNDLE)]) != 0
    err = capsys.readouterr().err
    assert "nothing" in err and "Traceback" not in err


def test_run_json_with_parts_decided_on_a_gateway(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``run --target gateway://``: the crops go to the gateway's model over OIP."""
    from edgeconsole.agent.app import AgentConfig
    from edgeconsole.agent.server import BackgroundAgent
    from edgeconsole.devices.gateway.tokens import remember

    monkeypatch.setenv("EDGECONSOLE_CONFIG_DIR", str(tmp_path / "config"))
    token = secrets.token_urlsafe(24)
    (tmp_path / "agent").mkdir()
    cfg = AgentConfig(data_dir=tmp_path / "agent", token=token, port=0, hardware_id=HW)
    bg = BackgroundAgent(cfg, build_ports(TRUST, HW))
    bg.start()
    try:
        assert bg.agent.repository.set_slot_model(BUNDLE) is not None
        remember(f"127.0.0.1:{bg.port}", token)
        target = f"gateway://127.0.0.1:{bg.port}"
        src = "synthetic:conveyor?seed=7&frames=90&ppm=300"
        args = ["run", "--source", src, "--model", str(BUNDLE), "--trust", str(TRUST)]
        assert cli_main([*args, "--target", target, "--json"]) == 0
    finally:
        bg.stop()
    out = json.loads(capsys.readouterr().out)
    decided = [p for p in out["parts"] if p["verdict"] != "missed"]
    assert len(decided) >= 5 and out["parts_decided"] == len(decided)
    assert all(p["provider"].startswith("gateway ") for p in decided), decided[0]
    assert out["runtime"]["device"]["kind"] == "gateway"
