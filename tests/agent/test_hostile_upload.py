"""Hostile uploads against a real agent process (issue 13, section 2).

A negative tar size once looped the upload thread forever (cancel, new uploads and
SIGTERM then hung); a valid bundle with data appended was staged; deeply nested
JSON bodies gave HTTP 500. Each case here runs against ``edgeconsole agent`` in its
own process, so a hang fails the test (HTTP timeout) instead of hanging it, and
SIGTERM is the real signal.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.agent.agent_proc import AgentProcess, Client
from tests.agent.hostile_tars import negative_pax_size, negative_size
from tests.fixtures.gateway import DIGITS, GatewayKit, StartAgent

E = "/v2/edgeconsole"
TOKEN = "hostile-upload-test-token-0123456789"


@pytest.fixture
def agent(tmp_path: Path, gateway_kit: GatewayKit) -> Iterator[AgentProcess]:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    shutil.copytree(DIGITS, tmp_path / "agent" / "models" / "digits")  # an OIP model
    proc = AgentProcess(tmp_path / "agent", gateway_kit.trust_dir, token_file, "gw-x86")
    yield proc
    proc.kill9()


def _client(agent: AgentProcess, timeout: float = 20.0) -> Client:
    return Client(agent.port, TOKEN, timeout=timeout)


def _begin(c: Client, data: bytes) -> tuple[int, dict[str, object]]:
    sha = hashlib.sha256(data).hexdigest()
    return c.call("POST", E + "/uploads", {"sha256": sha, "length": len(data)})


def _put(c: Client, data: bytes, offset: int = 0) -> tuple[int, dict[str, object]]:
    sha = hashlib.sha256(data).hexdigest()
    return c.call(
        "PUT",
        f"{E}/uploads/{sha}",
        data[offset:],
        headers={"Upload-Offset": str(offset), "Content-Type": "application/octet-stream"},
    )


class TricklingPut:
    """A PUT whose head and first bytes arrive, then one byte at a time: a hostile
    or stuck sender holding the upload open."""

    def __init__(self, port: int, data: bytes, first: int = 2048, every_s: float = 0.5) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        sha = hashlib.sha256(data).hexdigest()
        head = (
            f"PUT {E}/uploads/{sha} HTTP/1.1\r\nHost: gw\r\n"
            f"Authorization: Bearer {TOKEN}\r\nUpload-Offset: 0\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {len(data)}\r\n\r\n"
        ).encode()
        self.sock.sendall(head + data[:first])
        self.data, self.pos, self.every_s = data, first, every_s
        self.stop = threading.Event()
        self.closed_by_agent = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            while not self.stop.wait(self.every_s) and self.pos < len(self.data):
                self.sock.sendall(self.data[self.pos : self.pos + 1])
                self.pos += 1
        except OSError:
            self.closed_by_agent.set()

    def wait_closed(self, timeout: float) -> bool:
        """Whether the agent closed this connection within ``timeout`` (an answer,
        if any, is read and dropped)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.closed_by_agent.is_set():
                return True
            self.sock.settimeout(max(0.05, min(0.5, deadline - time.monotonic())))
            try:
                if not self.sock.recv(1 << 16):
                    return True
            except TimeoutError:
                continue
            except OSError:
                return True
        return False

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)
        self.sock.close()


def test_a_negative_tar_size_is_refused_and_the_agent_stays_responsive(
    agent: AgentProcess, gateway_kit: GatewayKit
) -> None:
    c = _client(agent)
    good = gateway_kit.bundle(version=1).read_bytes()
    for hostile in (negative_pax_size(good), negative_size(good)):
        assert _begin(c, hostile)[0] == 200
        status, body = _put(c, hostile)  # answered, not looped: the old agent never answered
        assert status == 422 and "size" in str(body["error"]), body
        sha = hashlib.sha256(hostile).hexdigest()
        assert c.call("DELETE", f"{E}/uploads/{sha}")[0] == 404  # discarded already
    assert _begin(c, good)[0] == 200  # a new upload goes through
    status, body = _put(c, good)
    assert status == 200 and body["state"] == "staged", body
    assert agent.sigterm_exit_code(15) == 0, agent.stderr_text()


def test_cancel_new_upload_and_sigterm_work_mid_hostile_upload(
    agent: AgentProcess, gateway_kit: GatewayKit
) -> None:
    c = _client(agent)
    big = gateway_kit.bundle(version=1, padding=2_000_000).read_bytes()
    good = gateway_kit.bundle(version=2).read_bytes()
    assert _begin(c, big)[0] == 200
    trickle = TricklingPut(agent.port, big)
    try:
        # The body is still arriving: cancel ends that request and drops the upload.
        sha = hashlib.sha256(big).hexdigest()
        status, body = c.call("DELETE", f"{E}/uploads/{sha}")
        assert status == 200, body
        assert trickle.wait_closed(15)  # the stuck request was ended, not waited for
    finally:
        trickle.close()
    status, body = _begin(c, good)
    assert status == 200 and body["state"] == "uploading", body
    # Another sender holds the new upload open; SIGTERM still stops the agent at once.
    stuck = TricklingPut(agent.port, good, first=100)
    try:
        assert agent.sigterm_exit_code(15) == 0, agent.stderr_text()
    finally:
        stuck.close()


def test_a_bundle_with_data_appended_is_refused_and_nothing_is_staged(
    agent: AgentProcess, gateway_kit: GatewayKit, tmp_path: Path
) -> None:
    c = _client(agent)
    good = gateway_kit.bundle(version=1).read_bytes()
    for extra in (bytes(1 << 20), b"hidden"):
        padded = good + extra
        assert _begin(c, padded)[0] == 200
        status, body = _put(c, padded)
        assert status == 422 and "after the end of the archive" in str(body["error"]), body
    status, slots = c.call("GET", E + "/slots")
    assert status == 200
    assert all(s["state"] in ("empty", "bad") for s in slots["slots"]), slots  # type: ignore[index, union-attr]
    assert not list((tmp_path / "agent" / "slots").rglob("bundle.ecb"))


# Under the 64 KiB cap of a control body, so the nesting itself is what is refused.
NESTED = b"[" * 30_000 + b"]" * 30_000
DEEP_OBJECT = b'{"a":' * 10_000 + b"1" + b"}" * 10_000


@pytest.mark.parametrize("body", [NESTED, DEEP_OBJECT], ids=["array", "object"])
def test_deeply_nested_json_bodies_are_400_on_every_json_route(
    agent: AgentProcess, body: bytes
) -> None:
    c = _client(agent)
    routes = [
        ("POST", E + "/uploads"),
        ("POST", E + "/slots/0/activate"),
        ("POST", "/v2/repository/index"),
    ]
    for method, path in routes:
        status, reply = c.call(method, path, body, headers={"Content-Type": "application/json"})
        assert status == 400 and "nested deeper than" in json.dumps(reply), (path, status, reply)
    # The infer body (a tensor request): refused the same way, never a 500.
    c.call("POST", "/v2/repository/models/digits/load", {})
    status, reply = c.call(
        "POST", "/v2/models/digits/infer", body, headers={"Content-Type": "application/json"}
    )
    assert status == 400 and "nested deeper than" in json.dumps(reply), (status, reply)
    assert c.call("GET", "/v2/health/ready")[0] == 200  # still serving
    assert "RecursionError" not in agent.stderr_text()


def test_a_put_preempted_while_its_open_runs_leaves_the_upload_free(
    start_gateway_agent: StartAgent, gateway_kit: GatewayKit
) -> None:
    """The DELETE that cancels a PUT whose writer was being opened (on the writer
    thread, where it cannot be withdrawn) once found that writer holding the upload:
    409 'receiving data' then, and for every later PUT and cancel until the agent
    restarted. The upload manager's lock is held here so the open is certain to be
    half done when the cancel arrives."""
    running = start_gateway_agent(token=TOKEN)
    routes, uploads = running.agent.upload_routes, running.agent.uploads
    c = Client(running.port, TOKEN, timeout=20.0)
    big = gateway_kit.bundle(version=1, padding=200_000).read_bytes()
    sha = hashlib.sha256(big).hexdigest()
    assert _begin(c, big)[0] == 200
    answer: list[tuple[int, dict[str, object]]] = []
    with uploads._lock:  # the open takes the write slot, then waits here
        trickle = TricklingPut(running.port, big)
        try:
            assert _until(lambda: uploads._writing.locked())
            put_task = routes._put_tasks[sha]
            deleting = threading.Thread(
                target=lambda: answer.append(
                    Client(running.port, TOKEN).call("DELETE", f"{E}/uploads/{sha}")
                )
            )
            deleting.start()
            assert _until(lambda: put_task.done() or put_task.cancelling() > 0)
        except BaseException:
            trickle.close()
            raise
    try:
        deleting.join(30)
        assert answer and answer[0][0] == 200, answer
        assert trickle.wait_closed(15)
    finally:
        trickle.close()
    # Nothing holds the upload: a new one begins and completes.
    good = gateway_kit.bundle(version=2).read_bytes()
    assert _begin(c, good)[0] == 200
    status, body = _put(c, good)
    assert status == 200 and body["state"] == "staged", body


def _until(condition: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True
