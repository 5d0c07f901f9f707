"""The ``agent`` and ``stream`` commands, and mDNS advertisement on loopback."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from edgeconsole.cli.main import main
from edgeconsole.devices.gateway.discovery import discover
from edgeconsole.devices.gateway.flash import GatewayFlashJob
from edgeconsole.devices.gateway.target import GatewayTarget
from edgeconsole.devices.target import Payload
from tests.fixtures.gateway import GatewayKit, StartAgent


def test_stream_command_prints_the_run_summary_with_a_network_stage(
    start_gateway_agent: StartAgent,
    gateway_kit: GatewayKit,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EDGECONSOLE_CONFIG_DIR", str(tmp_path / "cfg"))
    agent = start_gateway_agent(cameras=["synthetic:conveyor?fps=25"])
    t = GatewayTarget(agent.gateway_url, agent.token)
    data = gateway_kit.bundle(version=1).read_bytes()
    GatewayFlashJob(t, Payload(data, hashlib.sha256(data).hexdigest(), "digits-mlp", 1)).run()
    t.close()
    tf = tmp_path / "token"
    tf.write_text(agent.token + "\n")
    assert (
        main(["stream", agent.gateway_url, "--seconds", "1.5", "--json", "--token-file", str(tf)])
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["frames"] > 5 and summary["model"] == "digits-mlp v1"
    assert summary["stages"]["infer"]["p50"] > 0
    assert summary["stages"]["network"]["p50"] is not None
    assert summary["e2e"]["p99"] >= summary["stages"]["infer"]["p50"]
    assert summary["stream"]["connects"] == 1
    # human-readable form, token remembered from the first run
    assert main(["stream", agent.gateway_url, "--seconds", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "network" in out and agent.token not in out


def test_stream_command_with_a_wrong_token_fails_clearly(
    start_gateway_agent: StartAgent, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    agent = start_gateway_agent(cameras=["synthetic:conveyor?fps=10"])
    tf = tmp_path / "token"
    tf.write_text("definitely-not-the-token")
    assert main(["stream", agent.gateway_url, "--seconds", "1", "--token-file", str(tf)]) == 1
    assert "cannot open the stream" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra,why",
    [
        ([], "no trust store"),
        (["--trust-dir", "."], "token"),
        (["--trust-dir", ".", "--camera", "nonsense://x"], "camera"),
    ],
)
def test_agent_command_refuses_bad_setup(
    tmp_path: Path, extra: list[str], why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bad_token = tmp_path / "t"
    bad_token.write_text("short")
    args = ["agent", "--data-dir", str(tmp_path / "d"), "--port", "0"]
    if why != "no trust store":
        args += ["--token-file", str(bad_token) if why == "token" else str(_good(tmp_path))]
    assert main(args + extra) == 1
    err = capsys.readouterr().err.lower()
    assert why.split()[0] in err or "source" in err


def _good(tmp_path: Path) -> Path:
    p = tmp_path / "good-token"
    p.write_text("a-long-enough-token-0123456789")
    return p


def test_agent_advertises_itself_on_mdns(start_gateway_agent: StartAgent) -> None:
    agent = start_gateway_agent(mdns=True, name="gw-under-test")
    found = discover(5.0, interfaces=["127.0.0.1"], want=1)
    ours = [g for g in found if g.port == agent.port]
    assert ours, found
    assert ours[0].host == "127.0.0.1" and ours[0].properties["path"] == "/v2"
    assert ours[0].url == agent.gateway_url
