"""The harness itself: the plan is deterministic per seed and offset-exact; both
proxies forward real bytes and inject what they are told to."""

from __future__ import annotations

import os
import socket
import threading
import time
import tty
from collections.abc import Callable, Iterator

import pytest

from tests.faults.plan import CUT, STALL, FaultPlan
from tests.faults.proxy import PtyFaultProxy, TcpFaultProxy


def _feed(plan: FaultPlan, data: bytes, sizes: list[int]) -> list[object]:
    ops: list[object] = []
    pos = 0
    for n in sizes:
        ops.extend(plan.plan("up", data[pos : pos + n]))
        pos += n
    return ops


def _join(ops: list[object]) -> bytes:
    return b"".join(o for o in ops if isinstance(o, bytes))


def test_same_seed_same_faults_whatever_the_chunking() -> None:
    data = bytes(range(256)) * 400
    a = FaultPlan(11).flip("up", rate=1e-3).duplicate("up", rate=5e-4, max_len=8)
    b = FaultPlan(11).flip("up", rate=1e-3).duplicate("up", rate=5e-4, max_len=8)
    # Same stream, chunked differently: faults keyed on offsets land identically for flips.
    out_a = _join(_feed(a, data, [1000] * 103))
    out_b = _join(_feed(b, data, [4096] * 26))
    flips_a = [(i.offset, i.kind) for i in a.injected if i.kind == "flip"]
    flips_b = [(i.offset, i.kind) for i in b.injected if i.kind == "flip"]
    assert flips_a == flips_b and len(flips_a) > 30
    assert a.count("duplicate") > 5 and len(out_a) > len(data)
    assert len(out_b) > len(data)
    other = FaultPlan(12).flip("up", rate=1e-3)
    _feed(other, data, [4096] * 26)
    assert [i.offset for i in other.injected] != [o for o, _ in flips_a]


def test_cut_after_is_byte_exact_and_stall_holds() -> None:
    p = FaultPlan(0).cut_after(10)
    assert p.plan("up", b"0123456") == [b"0123456"]
    assert p.plan("up", b"789abcdef") == [b"789", CUT]
    assert p.offset("up") == 10
    p.stall("down", after=3)
    ops = p.plan("down", b"hello")
    assert ops == [b"hel", STALL, b"lo"] and p.stalled("down")
    p.resume()
    assert not p.stalled("down")


@pytest.fixture
def echo_server() -> Iterator[int]:
    srv = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=_echo, args=(conn,), daemon=True).start()

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    yield srv.getsockname()[1]
    stop.set()
    srv.close()
    th.join(5)


def _echo(conn: socket.socket) -> None:
    with conn:
        try:
            while data := conn.recv(65536):
                conn.sendall(data)
        except OSError:
            pass


def _recv_exact(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


def test_tcp_proxy_forwards_flips_and_cuts(
    echo_server: int, tcp_fault_proxy: Callable[..., TcpFaultProxy]
) -> None:
    proxy = tcp_fault_proxy(echo_server, seed=3)
    data = os.urandom(50_000)
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as s:
        s.sendall(data)
        assert _recv_exact(s, len(data)) == data  # clean link: byte-exact
        proxy.plan.flip("down", at=[proxy.plan.offset("down") + 5])
        s.sendall(b"abcdefghij")
        got = _recv_exact(s, 10)
        assert (
            got != b"abcdefghij"
            and sum(a != b for a, b in zip(got, b"abcdefghij", strict=True)) == 1
        )
        proxy.cut_after(100)
        s.sendall(b"x" * 1000)
        with pytest.raises((ConnectionError, OSError)) as info:
            while s.recv(65536):
                pass
            raise ConnectionResetError("closed")
        assert info.value is not None
    assert proxy.cuts == 1 and proxy.plan.count("cut") == 1


def test_tcp_proxy_stall_keeps_the_socket_open(
    echo_server: int, tcp_fault_proxy: Callable[..., TcpFaultProxy]
) -> None:
    proxy = tcp_fault_proxy(echo_server)
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=0.3) as s:
        proxy.plan.stall("up")
        s.sendall(b"ping")
        with pytest.raises(TimeoutError):
            s.recv(10)  # nothing comes back, nothing is closed: a half-open link
        proxy.plan.resume()
        s.settimeout(5)
        assert _recv_exact(s, 4) == b"ping"


def test_pty_proxy_forwards_and_cut_is_an_unplug(
    pty_fault_proxy: Callable[..., PtyFaultProxy], tmp_path: os.PathLike[str]
) -> None:
    from pathlib import Path

    master, slave = os.openpty()
    tty.setraw(slave)
    link = Path(tmp_path) / "dev"
    link.symlink_to(os.ttyname(slave))
    try:
        proxy = pty_fault_proxy(link, seed=1)
        host = os.open(proxy.path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(host)
        os.write(host, b"to-device\n")
        assert _read_until(master, b"\n") == b"to-device\n"
        os.write(master, b"to-host\n")
        assert _read_until(host, b"\n") == b"to-host\n"
        proxy.cut_after(3)
        os.write(host, b"abcdef")
        assert proxy.wait_plugs(2, 5)  # unplugged and plugged back
        with pytest.raises(OSError):
            for _ in range(100):
                if not os.read(host, 100):
                    raise OSError("eof")
        os.close(host)
        assert _read_until(master, b"c") == b"abc"
        host = os.open(proxy.path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(host)
        os.write(host, b"again\n")
        assert _read_until(master, b"\n") == b"again\n"
        os.close(host)
    finally:
        os.close(master)
        os.close(slave)


def _read_until(fd: int, end: bytes, timeout: float = 5.0) -> bytes:
    import select

    buf = b""
    deadline = time.monotonic() + timeout
    while not buf.endswith(end):
        left = deadline - time.monotonic()
        assert left > 0, buf
        r, _, _ = select.select([fd], [], [], left)
        if r:
            buf += os.read(fd, 1)
    return buf
