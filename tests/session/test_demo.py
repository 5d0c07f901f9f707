"""DemoJob: a real `edgeconsole sim serial` child, connected, streaming, and gone on close."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from typing import Any

from edgeconsole.session.demo import start_demo_devices
from edgeconsole.session.session import Session
from edgeconsole.session.targets import wait_for


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_demo_device_streams_and_is_stopped_on_close() -> None:
    session = Session()
    try:
        job = start_demo_devices(session)
        child = job.serial
        assert child is not None and child.alive()
        url = job.urls[0]
        got: dict[str, Any] = {"samples": 0, "state": ""}

        def step() -> bool:
            u = session.poll()
            for v in u.targets or []:
                got["state"] = v.state
            got["samples"] += sum(len(b.t) for b in u.telemetry)
            return got["state"] == "connected" and got["samples"] >= 20

        assert wait_for(step, 30.0), got
        summary = job.summary()["devices"][0]
        assert summary["url"] == url and summary["rate_hz"] > 10
        root = job.root
    finally:
        session.close()
    assert not child.alive()
    assert not root.exists()


def test_sim_child_dies_with_a_crashed_parent(tmp_path: Any) -> None:
    """A console killed with SIGKILL leaves no simulator behind (PR_SET_PDEATHSIG)."""
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from edgeconsole.session.demo import spawn_sim_serial
        child = spawn_sim_serial(Path({str(tmp_path / "d")!r}), rate=10)
        print(child.proc.pid, flush=True)
        time.sleep(60)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        assert _alive(pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        assert wait_for(lambda: not _alive(pid), 10.0)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
