"""Byte-level fault proxies: one for TCP (the gateway), one for ptys (serial devices).

Both forward real bytes between real endpoints and apply one seeded
:class:`~tests.faults.plan.FaultPlan` (cut after N bytes, stall without closing,
flip bits, duplicate runs, delay). Put one between the console and the thing
under test; the thing under test never knows.

- :class:`TcpFaultProxy` listens on 127.0.0.1 (ephemeral port) and forwards each
  connection to an upstream port. A cut aborts both sockets (the peer sees a
  reset, like a pulled cable behind a switch). ``freeze()`` holds every open
  connection forever while new ones flow (a half-open link that heals for the
  next connection), the behaviour the gateway fault tests were written against.
- :class:`PtyFaultProxy` opens the device's pty like a host would and offers its
  own pty behind a stable symlink (``proxy.path``). A cut pulls *its* cable: the
  host sees an unplug, and the proxy plugs a fresh pty back after
  ``replug_delay``. When the device itself unplugs (reboot, power loss), the
  proxy passes the unplug on and follows the device when it comes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import select
import threading
import time
import tty
from collections import deque
from pathlib import Path
from typing import Any

from tests.faults.plan import CUT, STALL, Direction, FaultPlan, Op

STALL_POLL_S = 0.01


class TcpFaultProxy:
    def __init__(
        self,
        upstream_port: int,
        plan: FaultPlan | None = None,
        *,
        seed: int = 0,
        upstream_host: str = "127.0.0.1",
    ) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.plan = plan or FaultPlan(seed)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, daemon=True, name="tcp-fault-proxy"
        )
        self._conns: list[dict[str, Any]] = []
        self._server: asyncio.AbstractServer | None = None
        self.port = 0
        self.connections = 0
        self.cuts = 0
        self.bytes = {"up": 0, "down": 0}  # forwarded (after faults)

    # ------------------------------------------------------------------ life
    def start(self) -> TcpFaultProxy:
        self._thread.start()

        async def boot() -> int:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
            return int(self._server.sockets[0].getsockname()[1])

        self.port = asyncio.run_coroutine_threadsafe(boot(), self.loop).result(10)
        return self

    def stop(self) -> None:
        async def down() -> None:
            if self._server is not None:
                self._server.close()
            for c in self._conns:
                _abort(c)
            # Frozen and stalled pipes wait forever: end them before the loop closes.
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        if self._thread.is_alive():
            self.plan.clear()
            asyncio.run_coroutine_threadsafe(down(), self.loop).result(10)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
        self.loop.close()

    def __enter__(self) -> TcpFaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ------------------------------------------------------------- controls
    def cut_after(self, n: int, direction: Direction = "up") -> None:
        self.plan.cut_after(n, direction)

    def freeze(self) -> None:
        """Hold every open connection forever, sockets open; later connections flow."""

        def go() -> None:
            for c in self._conns:
                c["frozen"] = True
            self._conns = []

        self.loop.call_soon_threadsafe(go)

    def cut_all(self) -> None:
        """Abort every open connection now."""

        def go() -> None:
            for c in self._conns:
                _abort(c)
            self.cuts += 1

        self.loop.call_soon_threadsafe(go)

    # ------------------------------------------------------------- forwarding
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_r, up_w = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return
        conn: dict[str, Any] = {"frozen": False, "writers": (writer, up_w)}
        self._conns.append(conn)
        await asyncio.gather(
            self._pipe(conn, reader, up_w, "up"), self._pipe(conn, up_r, writer, "down")
        )

    async def _pipe(
        self,
        conn: dict[str, Any],
        src: asyncio.StreamReader,
        dst: asyncio.StreamWriter,
        direction: Direction,
    ) -> None:
        try:
            while True:
                data = await src.read(65536)
                if not data:
                    break
                if conn["frozen"]:
                    await asyncio.Event().wait()  # hold these bytes forever
                for op in self.plan.plan(direction, data):
                    if op is CUT:
                        self.cuts += 1
                        _abort(conn)
                        return
                    if op is STALL:
                        while self.plan.stalled(direction):
                            await asyncio.sleep(STALL_POLL_S)
                        continue
                    assert isinstance(op, bytes)
                    delay = self.plan.delay_of(direction)
                    if delay:
                        await asyncio.sleep(delay)
                    if conn["frozen"]:
                        await asyncio.Event().wait()
                    dst.write(op)
                    self.bytes[direction] += len(op)
                    await dst.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            if not conn["frozen"]:
                _abort(conn)


def _abort(conn: dict[str, Any]) -> None:
    for w in conn["writers"]:
        transport = w.transport
        if transport is not None and not transport.is_closing():
            transport.abort()


class PtyFaultProxy:
    """A pty in front of a device's pty. ``path`` is what the host opens."""

    def __init__(
        self,
        device_path: Path,
        plan: FaultPlan | None = None,
        *,
        seed: int = 0,
        link: Path | None = None,
        replug_delay: float = 0.05,
    ) -> None:
        self.device_path = Path(device_path)
        self.plan = plan or FaultPlan(seed)
        self.path = link or self.device_path.with_name(self.device_path.name + ".proxy")
        self.replug_delay = replug_delay
        self.cuts = 0  # cuts injected by the plan
        self.device_unplugs = 0  # unplugs of the device passed on to the host
        self.plugs = 0
        self.bytes = {"up": 0, "down": 0}
        self._dev: int | None = None
        self._master: int | None = None
        self._slave: int | None = None
        self._out: dict[Direction, deque[Op]] = {"up": deque(), "down": deque()}
        self._due: dict[Direction, float] = {"up": 0.0, "down": 0.0}
        self._stop = threading.Event()
        self._plug_cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, daemon=True, name="pty-fault-proxy")

    # ------------------------------------------------------------------ life
    def start(self, timeout: float = 10.0) -> PtyFaultProxy:
        self._open_device(timeout)
        self._plug()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.plan.clear()
        if self._thread.is_alive():
            self._thread.join(10)
        self._unplug()
        self._close_device()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def __enter__(self) -> PtyFaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_plugs(self, count: int, timeout: float = 10.0) -> bool:
        with self._plug_cond:
            return self._plug_cond.wait_for(lambda: self.plugs >= count, timeout)

    def cut_after(self, n: int, direction: Direction = "up") -> None:
        self.plan.cut_after(n, direction)

    # -------------------------------------------------------------- plumbing
    def _open_device(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fd = os.open(self.device_path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
                break
            except OSError:
                if time.monotonic() > deadline or self._stop.is_set():
                    raise
                self._stop.wait(0.01)  # the device re-creates its node after an unplug
        with contextlib.suppress(Exception):
            tty.setraw(fd)
        self._dev = fd

    def _close_device(self) -> None:
        if self._dev is not None:
            with contextlib.suppress(OSError):
                os.close(self._dev)
            self._dev = None

    def _plug(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        tmp = self.path.with_name(f".{self.path.name}.new")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        tmp.symlink_to(os.ttyname(slave))
        os.replace(tmp, self.path)
        self._master, self._slave = master, slave
        with self._plug_cond:
            self.plugs += 1
            self._plug_cond.notify_all()

    def _unplug(self) -> None:
        # Like udev, the node goes with the cable (a stale link to a freed pty number
        # led a reconnecting host into another test's pty).
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        for fd in (self._master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = None
        # Whatever was on the wire went with the cable.
        self._out["up"].clear()
        self._out["down"].clear()

    def _replug_host(self) -> None:
        self._unplug()
        if not self._stop.wait(self.replug_delay):
            self._plug()

    def _run(self) -> None:
        while not self._stop.is_set():
            master, dev = self._master, self._dev
            if master is None or dev is None:
                self._stop.wait(0.01)
                continue
            wants = [fd for d, fd in (("down", master), ("up", dev)) if self._writable(d)]  # type: ignore[arg-type]
            timeout = self._next_timeout()
            try:
                readable, writable, _ = select.select([master, dev], wants, [], timeout)
            except (OSError, ValueError):
                continue
            if dev in readable and not self._pump_in(dev, "down"):
                self._device_gone()
                continue
            if master in readable and not self._pump_in(master, "up"):
                # The host closed its end: on a pty that reads EIO until it reopens.
                self._stop.wait(0.005)
            for direction, fd in (("down", master), ("up", dev)):
                if fd in writable:
                    self._flush(direction, fd)  # type: ignore[arg-type]

    def _pump_in(self, fd: int, direction: Direction) -> bool:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return True
        except OSError:
            return False
        if not data:
            return False
        delay = self.plan.delay_of(direction)
        for op in self.plan.plan(direction, data):
            self._out[direction].append(op)
        if delay:
            self._due[direction] = time.monotonic() + delay
        return True

    def _writable(self, direction: Direction) -> bool:
        q = self._out[direction]
        if not q:
            return False
        if q[0] is STALL and self.plan.stalled(direction):
            return False
        return time.monotonic() >= self._due[direction]

    def _next_timeout(self) -> float:
        t = 0.05
        now = time.monotonic()
        for d in ("up", "down"):
            if self._out[d]:  # type: ignore[index]
                t = min(t, max(0.001, self._due[d] - now))  # type: ignore[index]
        return t

    def _flush(self, direction: Direction, fd: int) -> None:
        q = self._out[direction]
        while q:
            op = q[0]
            if op is STALL:
                if self.plan.stalled(direction):
                    return
                q.popleft()
                continue
            if op is CUT:
                q.popleft()
                self.cuts += 1
                self._replug_host()
                return
            assert isinstance(op, bytes)
            try:
                n = os.write(fd, op)
            except BlockingIOError:
                return
            except OSError:
                if direction == "up":
                    self._device_gone()
                return
            self.bytes[direction] += n
            if n < len(op):
                q[0] = op[n:]
                return
            q.popleft()

    def _device_gone(self) -> None:
        """The device unplugged (reset, power loss): pass it on, then follow it back."""
        self.device_unplugs += 1
        self._close_device()
        self._unplug()
        try:
            self._open_device(timeout=30.0)
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.EIO) or not self._stop.is_set():
                self._stop.wait(0.05)
            return
        if not self._stop.is_set():
            self._plug()
