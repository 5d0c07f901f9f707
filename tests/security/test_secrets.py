"""Secrets: private keys and tokens are written 0600 at creation (even under umask 0)
and never printed; a token never reaches the journal, an evidence-pack export, an
error message or a log line (a full run is grepped: flash, connect, a refused token,
export, logs)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgeconsole.core.errors import EdgeConsoleError
from tests.fixtures.gateway import REPO, GatewayKit, StartAgent

TOKEN = "Tok3n-for-the-secrets-test-9f1c2e7d5b"
WRONG = "Wr0ng-token-for-the-secrets-test-4a8e"


@pytest.fixture
def umask0() -> Iterator[None]:
    old = os.umask(0)  # the worst case: nothing masks a careless mode
    try:
        yield
    finally:
        os.umask(old)


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_private_keys_and_tokens_are_0600_at_creation(
    tmp_path: Path, umask0: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from edgeconsole.agent.auth import provision_token
    from edgeconsole.bundles.signing import generate_keypair
    from edgeconsole.devices.gateway import tokens
    from edgeconsole.journal.keys import ConsoleKey

    kp = generate_keypair(tmp_path / "keys", "signer")
    assert _mode(kp.private_path) == 0o600 and _mode(kp.public_path) == 0o644
    console = ConsoleKey.load_or_create(tmp_path / "console")
    assert _mode(console.path) == 0o600
    (tmp_path / "agent").mkdir()
    _, token_path = provision_token(tmp_path / "agent")
    assert _mode(token_path) == 0o600
    monkeypatch.setenv("EDGECONSOLE_CONFIG_DIR", str(tmp_path / "config"))
    tokens.remember("127.0.0.1:1", TOKEN)
    assert _mode(tmp_path / "config" / tokens.FILE) == 0o600
    # A key somebody loosened (a copy, an unzip) is tightened before it signs anything.
    os.chmod(console.path, 0o644)
    ConsoleKey.load_or_create(tmp_path / "console")
    assert _mode(console.path) == 0o600


def test_keygen_command_never_prints_the_private_key(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "edgeconsole", "bundle", "keygen", "--out", str(tmp_path / "k")],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    keys = list((tmp_path / "k").glob("*.key"))
    assert r.returncode == 0 and keys, r.stderr
    secret_body = b"".join(keys[0].read_bytes().splitlines()[1:-1]).decode()
    assert secret_body[:40] not in r.stdout + r.stderr
    assert _mode(keys[0]) == 0o600


def _grep_tree(root: Path, needles: list[bytes], skip: set[Path]) -> list[str]:
    hits = []
    for p in root.rglob("*"):
        if p.is_file() and p not in skip:
            data = p.read_bytes()
            hits += [f"{p}: {n[:12]!r}" for n in needles if n in data]
    return hits


def test_tokens_never_reach_journal_exports_errors_or_logs(
    tmp_path: Path,
    start_gateway_agent: StartAgent,
    gateway_kit: GatewayKit,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    _private_app_home: Path,
) -> None:
    from edgeconsole.devices.gateway.flash import GatewayFlashJob
    from edgeconsole.devices.gateway.tokens import remember
    from edgeconsole.devices.target import Payload
    from edgeconsole.devices.targets import open_target
    from edgeconsole.journal.journal import Journal
    from edgeconsole.session.session import Session
    from edgeconsole.session.targets import wait_for

    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("EDGECONSOLE_CONFIG_DIR", str(tmp_path / "config"))
    agent = start_gateway_agent(token=TOKEN, cameras=["synthetic:conveyor?fps=5"])
    other = start_gateway_agent(token="the-other-agents-token-123456")
    errors: list[str] = []

    # Flash a bundle with the right token (remembered once it worked).
    t = open_target(agent.gateway_url, token=TOKEN)
    blob = gateway_kit.bundle(version=1).read_bytes()
    GatewayFlashJob(t, Payload(blob, hashlib.sha256(blob).hexdigest(), "digits-mlp", 1)).run()
    t.close()
    # A wrong token: refused, and the refusal names neither token.
    with pytest.raises(EdgeConsoleError) as info:
        open_target(other.gateway_url, token=WRONG)
    errors.append(str(info.value))
    # The session connects with remembered tokens; journal on; one of them is wrong.
    remember(f"127.0.0.1:{other.port}", WRONG)
    session = Session(journal=Journal.open())
    try:
        good = session.targets.connect(agent.gateway_url)
        bad = session.targets.connect(other.gateway_url)

        events: list[str] = []

        def settled() -> bool:
            events.extend(e.text for e in session.poll().events)
            g, b = session.targets.view(good), session.targets.view(bad)
            return bool(g and b and g.state == "connected" and b.state == "error")

        assert wait_for(settled, 30), events
        for url in (good, bad):
            view = session.targets.view(url)
            errors.append(json.dumps(view.to_json() if view else {}, default=str))
        errors += events
        # The stream refuses a wrong token too; its error text is shown to the person.
        from edgeconsole.devices.gateway.stream_receiver import StreamReceiver

        rx = StreamReceiver(other.url, WRONG, heartbeat_s=0.5).start()
        try:
            assert rx.wait_for(lambda st: st.last_error is not None, 15)
            errors.append(str(rx.stats.last_error))
        finally:
            rx.stop()
    finally:
        session.close()

    # A full evidence-pack export of that journal.
    pack = tmp_path / "pack"
    r = subprocess.run(
        [sys.executable, "-m", "edgeconsole", "export", "--out", str(pack), "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ},
    )
    assert r.returncode == 0, r.stderr
    assert any(pack.rglob("*")), "the export wrote a pack"

    needles = [TOKEN.encode(), WRONG.encode(), TOKEN[:16].encode(), WRONG[:16].encode()]
    hits = _grep_tree(pack, needles, set())
    hits += _grep_tree(_private_app_home, needles, set())
    # The agent's own data: everything but its token file (that is where it belongs).
    hits += _grep_tree(agent.data_dir, needles, {agent.data_dir / "token"})
    text = "\n".join([*errors, r.stdout, r.stderr, caplog.text])
    hits += [f"message: {n[:12]!r}" for n in needles if n.decode() in text]
    assert not hits, hits
    assert any("401" in e or "token" in e.lower() for e in errors), errors
