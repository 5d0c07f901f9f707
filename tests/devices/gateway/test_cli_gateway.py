"""``edgeconsole slots|flash|confirm|rollback gateway://HOST:PORT`` against the real
agent over HTTP on 127.0.0.1 (real signed bundles, real health checks)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edgeconsole.cli.main import main
from tests.fixtures.gateway import GatewayKit, RunningAgent


@pytest.fixture(autouse=True)
def _config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "config"
    monkeypatch.setenv("EDGECONSOLE_CONFIG_DIR", str(d))
    return d


def run(capsys: Any, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def _token_file(tmp_path: Path, token: str, name: str = "token") -> str:
    p = tmp_path / name
    p.write_text(token + "\n")
    return str(p)


def _table(a: RunningAgent) -> dict[str, Any]:
    return dict(a.agent.slots.describe())


def test_slots_then_the_token_is_remembered(
    gateway_agent: RunningAgent, tmp_path: Path, capsys: Any, _config_dir: Path
) -> None:
    tf = _token_file(tmp_path, gateway_agent.token)
    rc, out, _ = run(capsys, "slots", gateway_agent.gateway_url, "--token-file", tf, "--json")
    assert rc == 0
    data = json.loads(out)
    assert data["device"]["url"] == gateway_agent.gateway_url
    assert data["device"]["hw_id"] == "gw-x86"
    assert [s["state"] for s in data["slots"]] == ["empty", "empty"]
    # No --token-file now: the token that worked is remembered for host:port.
    rc, out, _ = run(capsys, "slots", gateway_agent.gateway_url)
    assert rc == 0 and "slot" in out and "empty" in out
    saved = json.loads((_config_dir / "gateway-tokens.json").read_text())
    assert saved == {f"127.0.0.1:{gateway_agent.port}": gateway_agent.token}
    assert (_config_dir / "gateway-tokens.json").stat().st_mode & 0o077 == 0


def test_flash_trial_confirm_then_rollback(
    gateway_agent: RunningAgent, gateway_kit: GatewayKit, tmp_path: Path, capsys: Any
) -> None:
    url, tf = gateway_agent.gateway_url, _token_file(tmp_path, gateway_agent.token)
    trust = str(gateway_kit.trust_dir)
    v1, v2 = gateway_kit.bundle(version=1), gateway_kit.bundle(version=2)

    rc, out, _ = run(capsys, "flash", url, str(v1), "--trial", "--trust-dir", trust,
                     "--token-file", tf, "--json")  # fmt: skip
    assert rc == 0
    res = json.loads(out)
    slot = res["slot"]
    assert res["self_test"]["passed"] and not res["confirmed"]
    assert res["slots"][slot]["state"] == "trial" and res["slots"][slot]["running"]
    assert (gateway_agent.data_dir / "slots" / str(slot) / "bundle.ecb").read_bytes() == (
        v1.read_bytes()
    )
    assert _table(gateway_agent)["confirmed"] is None

    rc, out, err = run(capsys, "confirm", url, "--token-file", tf)
    assert rc == 0 and "health check passed" in err
    assert _table(gateway_agent)["confirmed"] == slot

    # A second bundle on trial, then rollback: back to v1, confirmed and running.
    rc, out, _ = run(capsys, "flash", url, str(v2), "--trial", "--trust-dir", trust, "--json")
    assert rc == 0
    slot2 = json.loads(out)["slot"]
    assert slot2 != slot and _table(gateway_agent)["running"] == slot2
    rc, out, _ = run(capsys, "rollback", url)
    assert rc == 0
    t = _table(gateway_agent)
    assert t["running"] == slot and t["confirmed"] == slot
    assert gateway_agent.agent.repository.running.version == "1"


def test_flash_confirm_is_the_default(
    gateway_agent: RunningAgent, gateway_kit: GatewayKit, tmp_path: Path, capsys: Any
) -> None:
    rc, out, _ = run(capsys, "flash", gateway_agent.gateway_url, str(gateway_kit.bundle(1)),
                     "--trust-dir", str(gateway_kit.trust_dir),
                     "--token-file", _token_file(tmp_path, gateway_agent.token))  # fmt: skip
    assert rc == 0 and "confirmed" in out
    t = _table(gateway_agent)
    assert t["confirmed"] == t["running"] is not None


@pytest.mark.parametrize("command", ["slots", "flash", "confirm", "rollback"])
def test_wrong_token_is_refused_and_nothing_changes(
    gateway_agent: RunningAgent,
    gateway_kit: GatewayKit,
    tmp_path: Path,
    capsys: Any,
    _config_dir: Path,
    command: str,
) -> None:
    before = _table(gateway_agent)
    journal = gateway_agent.agent.journal.seq
    argv = [command, gateway_agent.gateway_url]
    if command == "flash":
        argv += [str(gateway_kit.bundle(1)), "--trust-dir", str(gateway_kit.trust_dir)]
    argv += ["--token-file", _token_file(tmp_path, "not-the-token")]
    rc, out, err = run(capsys, *argv)
    assert rc == 1 and out == ""
    line = err.strip()
    assert "\n" not in line and "refused the token" in line and "--token-file" in line
    assert "not-the-token" not in err  # a token is never printed
    assert _table(gateway_agent) == before
    assert gateway_agent.agent.uploads.session is None
    assert gateway_agent.agent.journal.seq == journal
    assert not (_config_dir / "gateway-tokens.json").exists()  # a refused token is not kept


def test_no_token_at_all_says_what_to_do(gateway_agent: RunningAgent, capsys: Any) -> None:
    rc, out, err = run(capsys, "slots", gateway_agent.gateway_url)
    assert rc == 1 and out == ""
    assert "no token for gateway" in err and "--token-file" in err


def test_token_file_problems(gateway_agent: RunningAgent, tmp_path: Path, capsys: Any) -> None:
    empty = _token_file(tmp_path, "", "empty")
    rc, _, err = run(capsys, "slots", gateway_agent.gateway_url, "--token-file", empty)
    assert rc == 1 and "token file is empty" in err
    rc, _, err = run(capsys, "slots", gateway_agent.gateway_url, "--token-file", "/nonexistent/t")
    assert rc == 1 and "cannot read token file" in err
    rc, _, err = run(capsys, "slots", "/dev/ttyNOPE", "--token-file", empty)
    assert rc == 1 and "only for gateway://" in err


def test_unreachable_gateway_is_a_clear_error(tmp_path: Path, capsys: Any) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tf = _token_file(tmp_path, "x" * 32)
    rc, out, err = run(capsys, "slots", f"gateway://127.0.0.1:{port}", "--token-file", tf)
    assert rc == 1 and out == "" and err.startswith("edgeconsole: error:")
    assert "\n" not in err.strip()
