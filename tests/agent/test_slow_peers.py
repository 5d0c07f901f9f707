"""Slow and silent connections are never held forever (issue 13, section 2).

19,990 silent connections once exhausted the agent's descriptors, and a sender that
trickled one byte at a time held an upload (and everyone waiting on it) forever.
Real sockets on 127.0.0.1 against the real agent, with its timeouts shortened so
the waits are seconds; every wait is a condition with a deadline, never a sleep.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fixtures.gateway import GatewayKit, RunningAgent, StartAgent

E = "/v2/edgeconsole"
SHORT = {
    "header_timeout_s": 1.0,
    "body_idle_s": 2.0,
    "body_window_s": 1.0,
    "body_min_bytes": 4096,
    "upload_body_idle_s": 2.0,
    "upload_idle_s": 2.0,
}


def _wait(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for: {what}"
        time.sleep(0.02)


def _closed_by_peer(sock: socket.socket, timeout: float) -> bool:
    """Read (and drop) until the agent closes the connection; False if it is still
    open after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, min(0.5, deadline - time.monotonic())))
        try:
            if not sock.recv(1 << 16):
                return True
        except TimeoutError:
            continue
        except OSError:
            return True
    return False


class Trickler:
    """Sends ``data`` one byte every ``every_s`` on a thread until stopped or cut."""

    def __init__(self, sock: socket.socket, data: bytes, every_s: float = 0.2) -> None:
        self.sock, self.data, self.every_s = sock, data, every_s
        self.sent = 0
        self.cut = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while self.sent < len(self.data) and not self._stop.wait(self.every_s):
                self.sock.sendall(self.data[self.sent : self.sent + 1])
                self.sent += 1
        except OSError:
            self.cut.set()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def _get(agent: RunningAgent, path: str) -> tuple[int, dict[str, object]]:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", agent.port, timeout=10)
    try:
        conn.request("GET", path, headers=agent.headers())
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"{}")
    finally:
        conn.close()


def test_a_request_head_sent_one_byte_at_a_time_is_cut_off(
    start_gateway_agent: StartAgent,
) -> None:
    agent = start_gateway_agent(**SHORT)
    head = f"GET {E}/info HTTP/1.1\r\nHost: gw\r\nX-Padding: {'p' * 400}\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", agent.port)) as sock:
        t = Trickler(sock, head)
        try:
            assert _closed_by_peer(sock, 15), "a trickling request head was held open"
        finally:
            t.stop()
        assert t.sent < len(head)  # cut before the head was complete
    assert agent.agent.guard.stats.header_timeouts >= 1


def test_a_silent_connection_is_closed_and_keep_alive_idles_out(
    start_gateway_agent: StartAgent,
) -> None:
    agent = start_gateway_agent(**SHORT)
    with socket.create_connection(("127.0.0.1", agent.port)) as silent:
        assert _closed_by_peer(silent, 15), "a connection that never spoke was held"
    with socket.create_connection(("127.0.0.1", agent.port)) as kept:
        kept.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: gw\r\n\r\n")
        # The answer arrives, then the idle keep-alive connection is closed.
        assert _closed_by_peer(kept, 15)


def test_many_idle_connections_are_capped_and_a_real_client_is_still_served(
    start_gateway_agent: StartAgent,
) -> None:
    agent = start_gateway_agent(**{**SHORT, "header_timeout_s": 30.0, "max_connections": 16})
    guard = agent.agent.guard
    idle: list[socket.socket] = []
    try:
        for _ in range(200):
            idle.append(socket.create_connection(("127.0.0.1", agent.port)))
        _wait(lambda: guard.stats.evicted + guard.stats.refused >= 150, 20, "the cap to act")
        assert guard.stats.peak <= 16 and guard.stats.open <= 16
        # A client that asks for something is served at once: it evicts an idle one.
        status, body = _get(agent, E + "/slots")
        assert status == 200 and "slots" in body
        # The evicted connections really are closed on the agent's side.
        closed = sum(_closed_by_peer(s, 0.2) for s in idle[:100])
        assert closed >= 90, closed
    finally:
        for s in idle:
            s.close()
    _wait(lambda: guard.stats.open == 0, 20, "every connection to be gone")


def test_a_json_body_that_trickles_is_answered_408_and_the_agent_serves_others(
    start_gateway_agent: StartAgent,
) -> None:
    agent = start_gateway_agent(**SHORT)
    body = json.dumps({"confirm": False, "pad": "x" * 2000}).encode()
    head = (
        f"POST {E}/slots/0/activate HTTP/1.1\r\nHost: gw\r\n"
        f"Authorization: Bearer {agent.token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", agent.port)) as sock:
        sock.sendall(head)
        t = Trickler(sock, body, every_s=0.1)
        try:
            assert _get(agent, E + "/slots")[0] == 200  # meanwhile, others are served
            sock.settimeout(15)
            answer = sock.recv(4096)
        finally:
            t.stop()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"stopped arriving" in answer


def test_a_trickling_upload_is_dropped_and_its_session_freed(
    start_gateway_agent: StartAgent, gateway_kit: GatewayKit
) -> None:
    """A sender that trickles holds neither the upload nor the agent: its request is
    dropped (what arrived is kept), and once the session idled out another bundle
    can be uploaded."""
    import http.client

    agent = start_gateway_agent(**SHORT)
    data = gateway_kit.bundle(version=1, padding=300_000).read_bytes()
    sha = hashlib.sha256(data).hexdigest()

    def call(method: str, path: str, body: bytes | None = None) -> tuple[int, dict[str, object]]:
        conn = http.client.HTTPConnection("127.0.0.1", agent.port, timeout=20)
        try:
            conn.request(method, path, body=body, headers=agent.headers())
            resp = conn.getresponse()
            return resp.status, json.loads(resp.read() or b"{}")
        finally:
            conn.close()

    announce = json.dumps({"sha256": sha, "length": len(data)}).encode()
    assert call("POST", E + "/uploads", announce)[0] == 200
    head = (
        f"PUT {E}/uploads/{sha} HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {agent.token}\r\n"
        f"Upload-Offset: 0\r\nContent-Length: {len(data)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", agent.port)) as sock:
        sock.sendall(head + data[:20_000])
        t = Trickler(sock, data[20_000:], every_s=0.1)
        try:
            assert _closed_by_peer(sock, 15), "the trickling upload was held open"
        finally:
            t.stop()
    # The dropped request kept what it had received; the session is still there ...
    status, body = call("GET", f"{E}/uploads/{sha}")
    assert status == 200 and body["state"] == "uploading" and body["offset"] >= 20_000
    # ... until it idles out: then another bundle may take the slot.
    other = gateway_kit.bundle(version=2).read_bytes()
    other_sha = hashlib.sha256(other).hexdigest()
    announce = json.dumps({"sha256": other_sha, "length": len(other)}).encode()
    _wait(lambda: call("POST", E + "/uploads", announce)[0] == 200, 20, "the session to free")
    assert call("GET", f"{E}/uploads/{sha}")[0] == 404


@pytest.mark.parametrize("n", [300])
def test_connections_never_exceed_the_cap_under_a_flood(
    start_gateway_agent: StartAgent, n: int, tmp_path: Path
) -> None:
    """A flood of connections that each send half a request head: the agent's count
    never passes its cap, and all of them are gone after the header timeout."""
    # A head timeout long enough that the cap, not the timer, meets the flood even on
    # a loaded machine.
    agent = start_gateway_agent(**{**SHORT, "header_timeout_s": 8.0, "max_connections": 32})
    guard = agent.agent.guard
    socks = []
    try:
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", agent.port))
            s.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: g")
            socks.append(s)
        _wait(lambda: guard.stats.evicted + guard.stats.refused >= n - 32, 20, "the cap to act")
        assert guard.stats.peak <= 32
        _wait(lambda: guard.stats.open == 0, 60, "the half-sent heads to time out")
        assert guard.stats.peak == 32
        # Every one of them was closed by the agent (none is left half-open).
        assert all(_closed_by_peer(s, 2) for s in socks)
    finally:
        for s in socks:
            s.close()
