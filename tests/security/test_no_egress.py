"""No egress: during a demo run the app talks only to loopback (or to what the person
configured; the demo configures nothing else). Two independent witnesses: an audit
hook inside the process (every connect/bind/sendto/name lookup) and /proc/<pid>/net
read from outside while it runs."""

from __future__ import annotations

import ast
import ipaddress
import json
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.security.netcheck import inet_sockets, non_loopback

REPO = Path(__file__).resolve().parents[2]
LOOPBACK_NAMES = {"127.0.0.1", "::1", "localhost", "localhost.localdomain", "0.0.0.0", "::", ""}


def _address_ok(family: int, address: str) -> bool:
    if family == socket.AF_UNIX or family == getattr(socket, "AF_NETLINK", -2):
        return True  # local IPC, not the network
    try:
        value = ast.literal_eval(address)
    except (ValueError, SyntaxError):
        return False
    host = value[0] if isinstance(value, tuple) else value
    if isinstance(host, bytes):
        host = host.decode()
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host == "localhost"
    # Binding to port 0 on 0.0.0.0 would listen on every interface: not allowed either.
    return ip.is_loopback


@pytest.mark.slow
def test_demo_opens_only_loopback_sockets(tmp_path: Path) -> None:
    out = tmp_path / "egress.json"
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "tests" / "security" / "egress_probe.py"), str(out), "16"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: list[object] = []
    done = threading.Event()

    def watch() -> None:  # the outside witness: /proc while it runs
        while not done.wait(0.25):
            seen.extend(inet_sockets(proc.pid))

    w = threading.Thread(target=watch, daemon=True)
    w.start()
    try:
        _stdout, stderr = proc.communicate(timeout=300)
    finally:
        done.set()
        w.join(5)
    assert proc.returncode == 0, stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["demo_rc"] == 0 and report["streams_alive"]
    events = report["events"]
    connects = [
        e for e in events if e["event"] in ("socket.connect", "socket.sendto", "socket.sendmsg")
    ]
    binds = [e for e in events if e["event"] == "socket.bind"]
    assert connects and binds, "the probe saw the demo's own loopback traffic"
    bad = [e for e in connects + binds if not _address_ok(e["family"], e["address"])]
    assert not bad, bad
    lookups = [e for e in events if e["event"].startswith("socket.get")]
    names = {ast.literal_eval(e["host"]) for e in lookups}
    names = {n.decode() if isinstance(n, bytes) else n for n in names}
    assert names <= LOOPBACK_NAMES | {None}, names
    assert seen, "the outside witness saw the demo's sockets"
    assert not non_loopback(seen), non_loopback(seen)  # type: ignore[arg-type]
