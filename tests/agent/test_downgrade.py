"""The agent refuses downgrades itself (issue 13): a bundle below the confirmed
version is neither staged nor put on trial unless the request asks for it, and
that override is written to the agent's journal. Real agent over HTTP, real
signed bundles; the CLI's ``--allow-downgrade`` is the person's way to ask."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edgeconsole.cli.main import main
from edgeconsole.core.errors import EdgeConsoleError
from edgeconsole.devices.gateway.client import GatewayClient
from edgeconsole.devices.gateway.http import GatewayHTTPError
from tests.fixtures.gateway import GatewayKit, RunningAgent, StartAgent


@pytest.fixture
def client(gateway_agent: RunningAgent) -> Any:
    c = GatewayClient(gateway_agent.url, gateway_agent.token, timeout_s=30)
    yield c
    c.close()


def _confirmed_v2(c: GatewayClient, kit: GatewayKit) -> None:
    c.upload(kit.bundle(version=2))
    assert c.activate(0, confirm=True)["state"] == "confirmed"


def _journal(c: GatewayClient) -> list[dict[str, Any]]:
    return list(c.journal(0, 1000)["entries"])


def test_a_lower_version_is_refused_and_nothing_is_staged(
    client: GatewayClient, gateway_kit: GatewayKit
) -> None:
    _confirmed_v2(client, gateway_kit)
    with pytest.raises(EdgeConsoleError, match="lower than the installed version 2"):
        client.upload(gateway_kit.bundle(version=1))
    slots = client.slots()["slots"]
    assert slots[1]["state"] in ("empty", "bad") and slots[1]["version"] != 1
    assert slots[0]["state"] == "confirmed" and slots[0]["version"] == 2


def test_the_override_stages_and_trials_a_downgrade_and_journals_it(
    client: GatewayClient, gateway_kit: GatewayKit
) -> None:
    _confirmed_v2(client, gateway_kit)
    staged = client.upload(gateway_kit.bundle(version=1), allow_downgrade=True)
    assert staged["state"] == "staged" and staged["version"] == 1
    # Staged on purpose, but going on trial is a second, separate decision.
    with pytest.raises(GatewayHTTPError, match="lower than the confirmed v2") as info:
        client.activate(staged["slot"])
    assert info.value.status == 409
    assert client.slots()["slots"][staged["slot"]]["state"] == "staged"
    result = client.activate(staged["slot"], allow_downgrade=True)
    assert result["state"] == "trial", result
    texts = [e["text"] for e in _journal(client)]
    assert any("downgrade override requested" in t for t in texts), texts
    assert any("BELOW the installed v2 (downgrade override)" in t for t in texts), texts
    assert any("DOWNGRADE from confirmed v2 to v1" in t for t in texts), texts


def test_an_upload_session_from_before_the_override_field_still_resumes(
    start_gateway_agent: StartAgent, tmp_path: Path
) -> None:
    data = tmp_path / "agent"
    (data / "upload").mkdir(parents=True)
    sha = "ab" * 32
    (data / "upload" / "session.json").write_text(
        json.dumps(
            {"sha256": sha, "length": 100, "slot": 0, "offset": 0, "started": 1.0, "updated": 1.0}
        )
    )
    (data / "upload" / f"{sha}.part").write_bytes(b"")
    from edgeconsole.core.slots import SlotStore, SlotTable

    SlotStore(data).save(SlotTable.empty().begin_staging(0, sha, 100))  # as begin() left it
    agent = start_gateway_agent(data)
    session = agent.agent.uploads.session
    assert session is not None and session.sha256 == sha and session.allow_downgrade is False


def test_flash_allow_downgrade_from_the_cli(
    gateway_agent: RunningAgent,
    client: GatewayClient,
    gateway_kit: GatewayKit,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _confirmed_v2(client, gateway_kit)
    tf = tmp_path / "token"
    tf.write_text(gateway_agent.token + "\n")
    v1 = str(gateway_kit.bundle(version=1))
    base = ["flash", gateway_agent.gateway_url, v1, "--token-file", str(tf)]
    base += ["--trust-dir", str(gateway_kit.trust_dir)]
    assert main(base) != 0
    assert "lower than the installed version 2" in capsys.readouterr().err
    assert main([*base, "--allow-downgrade"]) == 0
    err = capsys.readouterr().err
    assert "downgrading from v2 to v1 (--allow-downgrade)" in err
    slots = client.slots()
    running = slots["slots"][slots["running"]]
    assert running["version"] == 1 and running["state"] == "confirmed"
    assert any("downgrade override" in e["text"] for e in _journal(client))
