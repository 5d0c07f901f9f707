"""The demo's gateway: a real `edgeconsole agent` child, connected, flashed, streaming,
and gone on close or when the console dies."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from edgeconsole.session.demo import DemoJob, launch_agent, make_token_file, wait_agent
from edgeconsole.session.session import Session
from edgeconsole.session.targets import wait_for
from tests.session.test_demo import _alive


@pytest.fixture(autouse=True)
def _config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGECONSOLE_CONFIG_DIR", str(tmp_path / "config"))


@pytest.mark.slow
def test_demo_gateway_runs_the_sample_bundle_streams_and_stops_on_close(tmp_path: Path) -> None:
    session = Session()
    try:
        job = DemoJob(session.targets)
        session.demo = job
        job.start_gateway(monitor=True)
        child = job.gateway
        assert child is not None and child.alive()
        view = session.targets.view(job.gateway_url)
        assert view is not None and view.state == "connected"
        # The fast inspector, as on the laptop: the gateway decides each part once. A
        # machine too busy for its 5 ms health check gets the label inspector, and says so
        # (the check is a latency gate: this test must not hang on this machine's load).
        assert view.running is not None
        fast = view.running.bundle_id == "label-orientation"
        assert fast or (view.running.bundle_id == "label-inspector" and "p95" in job.gateway_note)
        assert view.hw_id == "gateway-x86_64" and view.health == "live, ready"
        assert view.cameras and "synthetic:conveyor" in view.cameras[0]
        assert job.monitor is not None
        assert wait_for(lambda: job.monitor.results >= 5 and job.monitor.parts >= 2, 60)
        gw = next(d for d in job.summary()["devices"] if d["url"] == job.gateway_url)
        assert gw["kind"] == "gateway"
        assert gw["running"] == ("label-orientation v1" if fast else "label-inspector v1")
        assert gw["stream"]["parts"] >= 2 and gw["stream"]["decision_ms"]["p50"] is not None
        assert gw["stream"]["connected"] and gw["stream"]["network_ms"]["p50"] is not None
        # A demo token is not remembered for the next session.
        assert not (tmp_path / "config" / "gateway-tokens.json").exists()
        root = job.root
    finally:
        session.close()
    assert not child.alive()
    assert not root.exists()


def test_agent_child_answers_then_dies_with_a_crashed_parent(tmp_path: Path) -> None:
    """The agent child prints where it listens; a console killed with SIGKILL leaves
    no agent behind (PR_SET_PDEATHSIG), like the simulator."""
    make_token_file(tmp_path / "tok")
    script = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from edgeconsole.session.demo import launch_agent, wait_agent
        child = launch_agent(Path({str(tmp_path / "a")!r}), Path({str(tmp_path / "tok")!r}))
        print(child.proc.pid, wait_agent(child), flush=True)
        time.sleep(60)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        pid_text, url = parent.stdout.readline().split()
        pid = int(pid_text)
        assert url.startswith("gateway://127.0.0.1:") and _alive(pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        assert wait_for(lambda: not _alive(pid), 10.0)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def test_agent_that_cannot_start_is_explained(tmp_path: Path) -> None:
    from edgeconsole.core.errors import DeviceError

    child = launch_agent(tmp_path / "a", tmp_path / "missing-token")
    with pytest.raises(DeviceError) as err:
        wait_agent(child, timeout_s=30)
    assert "did not start" in str(err.value) and not child.alive()
