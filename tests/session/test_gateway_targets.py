"""TargetManager with gateways: a real agent on 127.0.0.1 (tests/fixtures/gateway.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edgeconsole.session.targets import JobProgress, TargetManager, TargetView, wait_for

WAIT_S = 60.0


@pytest.fixture(autouse=True)
def _config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Remembered tokens go to a temporary folder, never ~/.config.
    monkeypatch.setenv("EDGECONSOLE_CONFIG_DIR", str(tmp_path / "config"))


@pytest.fixture
def manager(gateway_kit: Any) -> Iterator[TargetManager]:
    m = TargetManager(trust_dir=gateway_kit.trust_dir, shadow=False)
    yield m
    m.close()


def token_file(tmp_path: Path, token: str) -> Path:
    f = tmp_path / "token"
    f.write_text(token + "\n")
    f.chmod(0o600)
    return f


def view(m: TargetManager, url: str) -> TargetView:
    v = m.view(url)
    assert v is not None
    return v


def until_state(m: TargetManager, url: str, *states: str, timeout: float = WAIT_S) -> TargetView:
    assert wait_for(lambda: view(m, url).state in states, timeout), view(m, url)
    return view(m, url)


def run_job(
    m: TargetManager,
    job_id: int,
    seen: list[JobProgress] | None = None,
    events: list[str] | None = None,
) -> JobProgress:
    def done() -> bool:
        update = m.poll()
        for j in update.jobs:
            if seen is not None:
                seen.append(j)
        if events is not None:
            events.extend(e.text for e in update.events)
        p = m.job(job_id)
        return p is not None and p.finished

    assert wait_for(done, WAIT_S)
    p = m.job(job_id)
    assert p is not None
    return p


def test_connect_with_token_file_shows_health_slots_models_and_remembers(
    manager: TargetManager, gateway_agent: Any, tmp_path: Path
) -> None:
    from edgeconsole.devices.gateway.tokens import lookup

    url = manager.connect(
        f"gateway://127.0.0.1:{gateway_agent.port}",
        token_file=token_file(tmp_path, gateway_agent.token),
    )
    assert url == gateway_agent.gateway_url
    v = until_state(manager, url, "connected", "error")
    assert v.state == "connected", v.error
    assert v.kind == "gateway" and v.health == "live, ready"
    assert v.server.startswith("edgeconsole") and v.hw_id == "gw-x86"
    assert [s.index for s in v.slots] == [0, 1] and all(s.state == "empty" for s in v.slots)
    assert any(m.startswith("digits") for m in v.models), v.models
    assert lookup(f"127.0.0.1:{gateway_agent.port}") == gateway_agent.token
    assert v.smp  # slots and flashing are offered
    summary = next(d for d in manager.summaries() if d["url"] == url)
    assert summary["kind"] == "gateway" and summary["health"] == "live, ready"
    # The remembered token is enough for the next connection.
    manager.disconnect(url, forget=True)
    url = manager.connect(url)
    assert until_state(manager, url, "connected", "error").state == "connected"


def test_wrong_or_missing_token_is_an_error_that_says_so(
    manager: TargetManager, gateway_agent: Any
) -> None:
    from edgeconsole.devices.gateway.tokens import lookup

    url = manager.connect(gateway_agent.gateway_url, token="not-the-token")
    v = until_state(manager, url, "error", "connected")
    assert v.state == "error" and "refused the token" in v.error, v.error
    assert lookup(f"127.0.0.1:{gateway_agent.port}") is None  # a refused token is not kept
    other = manager.connect("gateway://127.0.0.1:1")  # nothing remembered for it
    v = until_state(manager, other, "error", "connected")
    assert "no token" in v.error
    # The right token afterwards connects.
    url = manager.connect(gateway_agent.gateway_url, token=gateway_agent.token)
    assert until_state(manager, url, "connected", "error").state == "connected"


def test_flash_progress_confirm_and_rollback(
    manager: TargetManager, gateway_agent: Any, gateway_kit: Any, tcp_fault_proxy: Any
) -> None:
    # Through a proxy that paces the upload (20 ms per 64 KiB read, about 1 s for the
    # bundle), so the polls see it running however fast loopback is on the day.
    proxy = tcp_fault_proxy(gateway_agent.port)
    url = manager.connect(f"gateway://127.0.0.1:{proxy.port}", token=gateway_agent.token)
    until_state(manager, url, "connected")
    seen: list[JobProgress] = []
    events: list[str] = []
    proxy.plan.delay(0.02, "up")
    p = run_job(
        manager,
        manager.flash(url, gateway_kit.bundle(1, padding=3_000_000), mode="confirm"),
        seen,
        events,
    )
    proxy.plan.clear()
    assert p.state == "done", p.message
    uploads = [j for j in seen if j.phase == "upload" and j.state == "running"]
    assert uploads and uploads[-1].bytes_per_s > 0 and uploads[-1].total > 3_000_000
    assert any(j.eta_s is not None for j in uploads)
    v = view(manager, url)
    assert v.running is not None and v.running.bundle_id == "digits-mlp" and v.running.version == 1
    assert v.running.confirmed
    # Version 2 on trial, confirmed, then rolled back to version 1.
    p = run_job(manager, manager.flash(url, gateway_kit.bundle(2), mode="trial"))
    assert p.state == "done" and "on trial" in p.message, p.message
    assert wait_for(lambda: view(manager, url).trial is not None, 10)
    assert run_job(manager, manager.confirm(url)).state == "done"
    assert wait_for(lambda: (r := view(manager, url).running) is not None and r.version == 2, 10)
    assert run_job(manager, manager.rollback(url)).state == "done"
    assert wait_for(lambda: (r := view(manager, url).running) is not None and r.version == 1, 10)
    # The audit side: the flash was reported as an event the window's log shows.
    assert any("flash done: digits-mlp v1" in t for t in events), events


def test_cancel_mid_upload_leaves_the_running_bundle(
    manager: TargetManager, gateway_agent: Any, gateway_kit: Any, tcp_fault_proxy: Any
) -> None:
    proxy = tcp_fault_proxy(gateway_agent.port)
    url = manager.connect(f"gateway://127.0.0.1:{proxy.port}", token=gateway_agent.token)
    until_state(manager, url, "connected")
    assert (
        run_job(manager, manager.flash(url, gateway_kit.bundle(1), mode="confirm")).state == "done"
    )
    # Paced (20 ms per 64 KiB read, ~2 s for 6 MB), so the cancel lands mid-upload
    # however fast loopback is on the day.
    proxy.plan.delay(0.02, "up")
    job = manager.flash(url, gateway_kit.bundle(3, padding=6_000_000), mode="confirm")

    def uploading() -> bool:
        manager.poll()
        p = manager.job(job)
        return p is not None and p.phase == "upload" and p.sent > 0

    assert wait_for(uploading, WAIT_S)
    assert manager.cancel(job)
    p = run_job(manager, job)
    proxy.plan.clear()
    assert p.state == "cancelled", (p.state, p.message)
    assert wait_for(lambda: (r := view(manager, url).running) is not None and r.version == 1, 10)
    assert view(manager, url).state == "connected"


def test_agent_killed_then_restarted_reconnects(
    manager: TargetManager, start_gateway_agent: Any, gateway_kit: Any
) -> None:
    agent = start_gateway_agent()
    url = manager.connect(agent.gateway_url, token=agent.token)
    until_state(manager, url, "connected")
    port, data = agent.port, agent.data_dir
    agent.background.stop()
    v = until_state(manager, url, "disconnected", timeout=20)
    assert "disconnected" in v.error and v.disconnects == 1
    again = restart_agent(data, agent.token, port, gateway_kit)
    try:
        v = until_state(manager, url, "connected", timeout=20)
        assert v.health == "live, ready" and v.error == ""
    finally:
        again.stop()


def restart_agent(data: Path, token: str, port: int, kit: Any) -> Any:
    """The same agent (data folder, token) back on the same port."""
    from edgeconsole.agent.app import AgentConfig
    from edgeconsole.agent.server import BackgroundAgent
    from edgeconsole.session.agent_ports import build_ports

    config = AgentConfig(
        data_dir=data, token=token, host="127.0.0.1", port=port, hardware_id=kit.hardware_id
    )
    bg = BackgroundAgent(config, build_ports(kit.trust_dir, kit.hardware_id))
    bg.start()
    assert bg.port == port
    return bg


def test_a_failed_flash_shows_the_agents_slots_without_a_refresh(
    manager: TargetManager, gateway_agent: Any, gateway_kit: Any
) -> None:
    """The agent rolls back a bundle over its latency budget and marks its slot bad: the
    view shows that as soon as the job ends, not after the person presses Refresh."""
    from edgeconsole.devices.gateway.target import GatewayTarget

    url = manager.connect(gateway_agent.gateway_url, token=gateway_agent.token)
    until_state(manager, url, "connected")
    assert run_job(manager, manager.flash(url, gateway_kit.bundle(1), mode="confirm")).state == (
        "done"
    )
    slow = gateway_kit.bundle(2, budget_ms=1e-6)
    p = run_job(manager, manager.flash(url, slow, mode="confirm"))
    assert p.state == "failed" and "health check" in p.message, p.message
    truth = GatewayTarget(url, gateway_agent.token)
    try:
        agent_slots = truth.slots()
    finally:
        truth.close()
    assert [(s.index, s.state) for s in agent_slots] == [(0, "confirmed"), (1, "bad")]
    assert wait_for(lambda: view(manager, url).slots == tuple(agent_slots), 10), (
        view(manager, url).slots,
        agent_slots,
    )
    v = view(manager, url)
    assert v.running is not None and v.running.version == 1 and v.state == "connected"
