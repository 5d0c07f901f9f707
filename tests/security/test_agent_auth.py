"""The agent binds to loopback unless told otherwise and refuses every request but
liveness without its token: every route of the real app over real HTTP."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.fixtures.gateway import REPO, GatewayKit, RunningAgent
from tests.security.netcheck import listening_sockets

WRONG = [
    "",
    "Bearer ",
    "Bearer wrong-token-0123456789",
    "Basic dXNlcjpwYXNz",
    "bearer {token}",
    "Bearer {token}x",
    "Bearer {token_prefix}",
    "{token}",
]


def _request(url: str, method: str, auth: str | None) -> tuple[int, bytes]:
    req = urllib.request.Request(
        url, method=method, data=b"{}" if method in ("POST", "PUT") else None
    )
    if auth is not None:
        req.add_header("Authorization", auth)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def _concrete(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: {"slot": "0", "sha": "a" * 64}.get(m[1], "digits"), path)


def test_every_route_but_liveness_needs_the_token(gateway_agent: RunningAgent) -> None:
    app = gateway_agent.agent.make_app()
    routes = sorted(
        {(r.method, r.resource.canonical) for r in app.router.routes() if r.method != "HEAD"}
    )
    assert len(routes) >= 20  # the whole API, not a sample
    token = gateway_agent.token
    checked = 0
    for method, path in routes:
        url = gateway_agent.url.rstrip("/") + _concrete(path)
        for auth in [None, *WRONG]:
            a = None if auth is None else auth.format(token=token, token_prefix=token[:-1])
            status, body = _request(url, method, a)
            if path == "/v2/health/live" and method == "GET":
                assert status == 200
                continue
            assert status == 401, (method, path, a, status)
            assert token.encode() not in body  # refusals never echo the token
            checked += 1
    assert checked >= 20 * len(WRONG)


@pytest.mark.parametrize(
    "path",
    [
        "/v2/health/live/",
        "/V2/health/live",
        "//v2/health/live",
        "/v2/health/live/../../v2/edgeconsole/slots",
        "/v2/health/live%2F..%2Fedgeconsole%2Fslots",
        "/v2/health/./live/../../edgeconsole/info",
    ],
)
def test_liveness_lookalikes_are_not_open(gateway_agent: RunningAgent, path: str) -> None:
    status, body = _request(gateway_agent.url.rstrip("/") + path, "GET", None)
    assert status in (401, 404), (path, status, body[:200])
    assert b"slots" not in body or status != 200


def test_agent_command_binds_loopback_by_default(tmp_path: Path, gateway_kit: GatewayKit) -> None:
    # No --host: the default is what is checked. (A trust store is required to start.)
    cmd = [
        sys.executable,
        "-m",
        "edgeconsole",
        "agent",
        "--data-dir",
        str(tmp_path / "a"),
        "--trust-dir",
        str(gateway_kit.trust_dir),
        "--port",
        "0",
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, proc.stderr.read() if proc.stderr else ""
        event = json.loads(line)
        assert event["event"] == "listening" and "127.0.0.1" in event["url"]
        token = (tmp_path / "a" / "token").read_text().strip()
        assert token not in line
        assert oct((tmp_path / "a" / "token").stat().st_mode & 0o777) == oct(0o600)
        listens = listening_sockets(proc.pid)
        assert listens, "the agent listens somewhere"
        assert all(addr.is_loopback for addr, _ in listens), listens
    finally:
        proc.terminate()
        proc.wait(30)
