"""The bearer token never reaches the agent's log (issue 13): aiohttp logs a request
it cannot parse with the raw header line. Checked on the real agent process's own
stderr, where its log goes."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from tests.agent.agent_proc import AgentProcess
from tests.fixtures.gateway import GatewayKit

TOKEN = "Zt0k-Q9f3LmW2xR7vB1nK8pD4sH6jA5c"


def _raw_request(port: int, head: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /v2/edgeconsole/info HTTP/1.1\r\nHost: gw\r\n" + head + b"\r\n")
        return s.recv(4096)


def test_a_malformed_authorization_header_is_logged_without_the_token(
    tmp_path: Path, gateway_kit: GatewayKit
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    agent = AgentProcess(tmp_path / "agent", gateway_kit.trust_dir, token_file, "gw-x86")
    heads = [
        # an invalid byte inside the value: aiohttp quotes the whole line
        b"Authorization: Bearer " + TOKEN[:12].encode() + b"\x01" + TOKEN[12:].encode() + b"\r\n",
        b"Authorization: Bearer " + TOKEN.encode() + b"\x7f\r\n",
        # a mangled header name: not recognisable as Authorization any more
        b"Authorizatio\x01n: Bearer " + TOKEN.encode() + b"\r\n",
        # the token under another header, with a NUL after it
        b"X-Token: " + TOKEN.encode() + b"\x00\r\n",
    ]
    try:
        for head in heads:
            assert _raw_request(agent.port, head).startswith(b"HTTP/1.0 400")
        deadline = time.monotonic() + 10
        while agent.stderr_text().count("Error handling request") < len(heads):
            assert time.monotonic() < deadline, agent.stderr_text()
            time.sleep(0.05)
    finally:
        assert agent.sigterm_exit_code(20) is not None
    log = agent.stderr_text()
    # The log was written (so this test can see a leak) ...
    assert log.count("Error handling request") == len(heads), log
    assert log.count("[redacted]") >= len(heads), log
    # ... and holds no eight-character piece of the token.
    for i in range(len(TOKEN) - 7):
        assert TOKEN[i : i + 8] not in log, (TOKEN[i : i + 8], log)
