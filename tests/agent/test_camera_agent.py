"""The gateway agent runs an industrial camera (``--camera pylon://...``) like any source."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from tests.fixtures.sources import wait_for


def test_agent_camera_reports_the_camera_link(
    pylon_emulator: str, start_gateway_agent: Any
) -> None:
    agent = start_gateway_agent(cameras=[f"{pylon_emulator}?fps=20"])
    cam = agent.agent.cameras[0]
    assert wait_for(lambda: cam.frames >= 5, timeout=30), cam.describe()
    req = urllib.request.Request(f"{agent.url}/v2/edgeconsole/info", headers=agent.headers())
    with urllib.request.urlopen(req, timeout=10) as resp:
        status = json.loads(resp.read())
    (described,) = status["cameras"]
    assert described["source"] == f"{pylon_emulator}?fps=20" and described["state"] == "running"
    link = described["camera"]
    assert link["camera"]["model"] == "Emulation" and link["stream"]["completed"] >= 5
    assert link["trigger"]["mode"] == "free run"
