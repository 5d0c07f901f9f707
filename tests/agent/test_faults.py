"""Fault tests: cuts, restarts, half-open links, broken models. Real HTTP on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from edgeconsole.devices.gateway.client import GatewayClient, UploadProgress
from edgeconsole.devices.gateway.stream_receiver import StreamReceiver
from tests.agent import faulty_checks
from tests.fixtures.gateway import REPO, GatewayKit, LoopbackProxy, RunningAgent, StartAgent


@pytest.fixture
def clients() -> Any:
    made: list[GatewayClient] = []

    def make(port: int, token: str, **kw: Any) -> GatewayClient:
        c = GatewayClient(f"http://127.0.0.1:{port}", token, **kw)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def test_tcp_cut_mid_upload_resumes(
    gateway_agent: RunningAgent, gateway_kit: GatewayKit, loopback_proxy: Any, clients: Any
) -> None:
    bundle = gateway_kit.bundle(version=1, padding=3_000_000)
    size = bundle.stat().st_size
    proxy: LoopbackProxy = loopback_proxy(gateway_agent.port)
    proxy.cut_after(size // 2)
    c = clients(proxy.port, gateway_agent.token, timeout_s=5)
    result = c.upload(bundle, stall_s=3)
    assert proxy.cuts == 1
    assert result["state"] == "staged" and result["resumes"] >= 1
    # Resumed, not restarted: the second request started where the cut left off.
    assert result["starts"][0] == 0 and len(result["starts"]) >= 2
    assert result["starts"][1] >= size // 4
    staged = gateway_agent.data_dir / "slots" / "0" / "bundle.ecb"
    assert (
        hashlib.sha256(staged.read_bytes()).hexdigest()
        == hashlib.sha256(bundle.read_bytes()).hexdigest()
    )


@pytest.mark.timeout(300)  # a 3 MB upload through the proxy; slow only on a loaded machine
def test_half_open_link_mid_upload_is_detected_and_resumed(
    gateway_agent: RunningAgent, gateway_kit: GatewayKit, loopback_proxy: Any, clients: Any
) -> None:
    bundle = gateway_kit.bundle(version=1, padding=3_000_000)
    proxy: LoopbackProxy = loopback_proxy(gateway_agent.port)
    c = clients(proxy.port, gateway_agent.token, timeout_s=5)
    frozen = threading.Event()

    def on_progress(p: UploadProgress) -> None:
        if p.sent > 1_000_000 and not frozen.is_set():
            frozen.set()
            proxy.freeze()  # bytes stop moving, sockets stay open

    # Without the stall watchdog the upload would wait on the frozen link forever
    # (pytest's timeout ends it); with it, it resumes on a new connection.
    result = c.upload(bundle, progress=on_progress, stall_s=1.0)
    assert frozen.is_set() and result["state"] == "staged" and result["resumes"] >= 1


def _spawn_agent(
    data: Path, kit: GatewayKit, token_file: Path, port: int = 0
) -> tuple[subprocess.Popen[str], int]:
    cmd = [
        sys.executable,
        "-m",
        "edgeconsole",
        "agent",
        "--data-dir",
        str(data),
        "--token-file",
        str(token_file),
        "--trust-dir",
        str(kit.trust_dir),
        "--hardware-id",
        kit.hardware_id,
        "--port",
        str(port),
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # blocks until the agent listens (or dies)
    if not line:
        raise AssertionError(f"agent did not start: {proc.stderr.read() if proc.stderr else ''}")
    event = json.loads(line)
    assert event["event"] == "listening"
    assert token_file.read_text().strip() not in line  # the token itself is never printed
    return proc, int(event["url"].rsplit(":", 1)[1])


@pytest.mark.slow
def test_agent_killed_mid_upload_and_restarted_resumes(
    tmp_path: Path, gateway_kit: GatewayKit, clients: Any
) -> None:
    bundle = gateway_kit.bundle(version=1, padding=40_000_000)
    size = bundle.stat().st_size
    data = tmp_path / "agent"
    token_file = tmp_path / "token"
    token_file.write_text("restart-test-token-0123456789\n")
    proc, port = _spawn_agent(data, gateway_kit, token_file)
    c = clients(port, "restart-test-token-0123456789", timeout_s=5)
    killed = threading.Event()
    at_kill: dict[str, int] = {}
    restarted: list[subprocess.Popen[str]] = []

    def on_progress(p: UploadProgress) -> None:
        if p.sent < 20_000_000 or killed.is_set():
            return
        try:  # kill once the agent vouched for some data (it lags the sender by buffers)
            persisted = json.loads((data / "upload" / "session.json").read_text())["offset"]
        except (OSError, ValueError, KeyError):
            return
        if persisted > 0:
            killed.set()
            at_kill["sent"] = p.sent
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
            session = json.loads((data / "upload" / "session.json").read_text())
            at_kill["persisted"] = session["offset"]
            restarted.append(_spawn_agent(data, gateway_kit, token_file, port)[0])

    try:
        result = c.upload(bundle, progress=on_progress, stall_s=5, deadline_s=60)
    finally:
        for p in [proc, *restarted]:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(20)
    assert killed.is_set() and restarted
    assert at_kill["persisted"] >= 16 * 1024 * 1024  # the data was vouched for before the kill
    assert result["state"] == "staged" and result["resumes"] >= 1
    # Only what the agent had not persisted was sent again.
    assert result["transmitted"] <= size + (at_kill["sent"] - at_kill["persisted"]) + 8_000_000
    staged = data / "slots" / "0" / "bundle.ecb"
    assert staged.stat().st_size == size


@pytest.mark.parametrize(
    "check,why",
    [
        (faulty_checks.crash, "crashed"),
        (faulty_checks.exit_quietly, "crashed"),
        pytest.param(faulty_checks.hang, "hung", marks=pytest.mark.slow),
    ],
)
def test_model_that_crashes_or_hangs_on_trial_rolls_back_and_agent_stays_up(
    start_gateway_agent: StartAgent, gateway_kit: GatewayKit, clients: Any, check: Any, why: str
) -> None:
    good = start_gateway_agent(ports={"health_check": faulty_checks.crash})
    agent_ports = good.agent.ports
    c = clients(good.port, good.token, timeout_s=10)
    # Install v1 with the real check first, so there is a confirmed bundle to fall back to.
    from edgeconsole.session.agent_ports import build_ports

    real = build_ports(gateway_kit.trust_dir, gateway_kit.hardware_id).health_check
    good.agent.slots.health_check = real
    c.upload(gateway_kit.bundle(version=1))
    assert c.activate(0, confirm=True)["state"] == "confirmed"
    good.agent.slots.health_check = check
    assert agent_ports is good.agent.ports
    c.upload(gateway_kit.bundle(version=2))
    r = c.activate(1, timeout_s=6)
    assert r["state"] == "rolled-back"
    assert why in r["report"]["reason"]
    slots = c.slots()
    assert slots["slots"][1]["state"] == "bad" and slots["confirmed"] == 0
    assert c.info()["model"]["version"] == "1"  # still serving the old bundle
    assert c.is_live()


def test_model_over_its_latency_budget_fails_trial(
    gateway_agent: RunningAgent, gateway_kit: GatewayKit, clients: Any
) -> None:
    c = clients(gateway_agent.port, gateway_agent.token)
    c.upload(gateway_kit.bundle(version=1))
    c.activate(0, confirm=True)
    c.upload(gateway_kit.bundle(version=2, budget_ms=1e-6))
    r = c.activate(1)
    assert r["state"] == "rolled-back" and "budget" in r["report"]["reason"]
    assert c.info()["model"]["version"] == "1"


def test_half_open_stream_is_detected_and_reconnected(
    start_gateway_agent: StartAgent, gateway_kit: GatewayKit, loopback_proxy: Any
) -> None:
    agent = start_gateway_agent(cameras=["synthetic:conveyor?fps=20"], heartbeat_s=1.0)
    proxy: LoopbackProxy = loopback_proxy(agent.port)
    rx = StreamReceiver(
        f"http://127.0.0.1:{proxy.port}", agent.token, heartbeat_s=0.5, stale_s=1.5
    ).start()
    try:
        assert rx.wait_for(lambda s: s.results >= 5 and s.frames >= 1, 20)
        assert rx.stats.connects == 1
        proxy.freeze()
        assert rx.wait_for(lambda s: s.connects >= 2, 20), rx.stats
        before = rx.stats.results
        assert rx.wait_for(lambda s: s.results >= before + 5, 20)
        assert rx.stats.reconnects >= 1
    finally:
        rx.stop()
