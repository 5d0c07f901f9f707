"""A device on a pseudo-terminal: the cable, the line and the faults, not the firmware.

The device owns a pty pair. The host side is reached through a stable symlink
``<data_dir>/tty`` (like ``/dev/serial/by-id/...``): when the device "unplugs"
(a cut cable, a reboot, a power loss) it closes the pty, so the host's reads
fail the way a vanished USB device fails, and on "replug" it opens a fresh pty
and points the symlink at it.

One I/O thread reads requests (paced at the line rate when ``baud`` is set,
with faults applied byte by byte), hands each checked SMP frame to the
firmware (:meth:`PtyDevice._answer`), and performs resets. Every writer goes
through one lock, a whole line at a time, so a log line never splits an SMP
line. Subclasses are the firmware: ``VirtualSerialDevice`` (EdgeConsole's
group 65) and ``StockSerialDevice`` (stock Zephyr ``smp_svr`` with MCUboot).
"""

from __future__ import annotations

import contextlib
import os
import queue
import random
import select
import threading
import time
import tty
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edgeconsole.sim.smp_lines import SmpLineDecoder, encode_frame
from edgeconsole.sim.storage import PowerLoss, PowerRail

#: Time from a reset's answer to the reset (Zephyr's default is 250 ms; kept short here).
RESET_DELAY_S = 0.05


@dataclass
class FaultPlan:
    """Faults to inject, counted in bytes since the device started (all plugs).

    ``cut_at_rx``: unplug when the Nth request byte arrives (the rest of that
    read is lost on the wire), then replug. ``reboot_at_rx``: reboot there.
    ``flip_rx`` / ``flip_tx``: flip one bit of the byte at these offsets.
    ``garbage_tx_every``: put random non-SMP bytes on the line every N responses.
    ``power``: the power rail (``fail_at`` = persistent write number to cut at).
    ``selftest_fail``: the device's health check reports failure (a crash loop).
    """

    cut_at_rx: list[int] = field(default_factory=list)
    reboot_at_rx: list[int] = field(default_factory=list)
    flip_rx: set[int] = field(default_factory=set)
    flip_tx: set[int] = field(default_factory=set)
    garbage_tx_every: int = 0
    power: PowerRail = field(default_factory=PowerRail)
    seed: int = 0

    @staticmethod
    def random_flips(count: int, start: int, span: int, seed: int) -> set[int]:
        rng = random.Random(seed)
        return {start + rng.randrange(span) for _ in range(count)}


class Pacer:
    """Holds bytes to a line rate: ``baud`` / 10 bytes per second (8N1)."""

    def __init__(self, baud: int | None) -> None:
        self.rate = baud / 10.0 if baud else 0.0
        self._due = 0.0

    def consume(self, n: int) -> None:
        if not self.rate:
            return
        now = time.perf_counter()
        self._due = max(self._due, now) + n / self.rate
        delay = self._due - now
        if delay > 0.0005:
            time.sleep(delay)


class PtyDevice:
    """The line side of a virtual device; subclasses supply the firmware."""

    def __init__(
        self,
        data_dir: Path,
        *,
        baud: int | None = None,
        buf_size: int = 2048,
        faults: FaultPlan | None = None,
        replug_delay: float = 0.02,
        rx_buffers: int = 0,
    ) -> None:
        if buf_size < 64 or buf_size > 65535:
            raise ValueError("buf_size must be 64..65535")
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.data_dir / "tty"
        self.baud = baud
        self.buf_size = buf_size
        self.faults = faults or FaultPlan()
        self.replug_delay = replug_delay
        #: False: after a reset the device stays away (an image that hangs at boot,
        #: no watchdog) until :meth:`power_cycle` is called.
        self.comes_back = True
        self._lock = threading.Lock()  # one writer on the line at a time
        self._plug_cond = threading.Condition()
        self.plugs = 0  # times a pty was attached (1 after start)
        self.boots = 0
        self.rx_bytes = 0
        self.tx_bytes = 0
        self.log: deque[str] = deque(maxlen=200)
        self._master: int | None = None
        self._slave: int | None = None
        #: Changes (under ``_lock``) at every plug and unplug: a descriptor number read
        #: before a change may since name another file.
        self._cable = 0
        self._stop = threading.Event()
        self._reset_requested = False
        self._cycle = threading.Event()
        self._threads: list[threading.Thread] = []
        self.decoder = SmpLineDecoder(max_frame=buf_size)
        self._pacer_rx = Pacer(baud)
        self._pacer_tx = Pacer(baud)
        self._tx_frames = 0
        self._rng = random.Random(self.faults.seed)
        #: ``rx_buffers`` > 0: the line is received into that many frame buffers while the
        #: firmware handles the previous frame on its own thread (a UART with DMA receive,
        #: as Zephyr's MCUmgr UART transport). A frame that finds no free buffer is lost,
        #: as on the device. 0: one thread receives and answers in turn.
        self.rx_buffers = rx_buffers
        self.rx_overruns = 0
        self._received: queue.Queue[bytes | None] = queue.Queue(maxsize=max(1, rx_buffers))

    # -- what a subclass (the firmware) supplies ----------------------------------------
    def _boot(self) -> None:
        """Power-on: whatever is on flash decides what runs."""
        raise NotImplementedError

    def _answer(self, frame: bytes) -> bytes | None:
        """One checked request frame -> one response frame (or None: not answered)."""
        raise NotImplementedError

    def _loops(self) -> list[Callable[[], None]]:
        """Background loops besides the I/O loop (telemetry, a log ticker)."""
        return []

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> Path:
        self._boot()
        self._plug()
        loops = [self._io_loop, *self._loops()]
        if self.rx_buffers:
            loops.append(self._handle_loop)
        for target in loops:
            t = threading.Thread(target=target, name=f"sim-{target.__name__}", daemon=True)
            t.start()
            self._threads.append(t)
        return self.path

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5)
        # The node before the pty, as in _replug: a link to a freed pty number would lead
        # a host still reconnecting by path to whichever device gets that number next.
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        with self._lock:
            self._unplug_locked()

    def __enter__(self) -> PtyDevice:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_plugs(self, count: int, timeout: float = 10.0) -> bool:
        """Wait until the pty has been (re)attached ``count`` times in total."""
        with self._plug_cond:
            return self._plug_cond.wait_for(lambda: self.plugs >= count, timeout)

    def power_cycle(self) -> None:
        """Someone unplugs the device and plugs it in again (from any thread; the I/O
        thread does it between two frames, as power never cuts a handler in half here)."""
        self._cycle.set()

    def _do_power_cycle(self) -> None:
        self._cycle.clear()
        self.comes_back = True
        if self._master is not None:
            self._replug(reboot=True)
            return
        self.decoder = SmpLineDecoder(max_frame=self.buf_size)
        self._boot()
        self._plug()

    # -- the cable -------------------------------------------------------------------
    def _plug(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        tmp = self.path.with_name(".tty.new")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        tmp.symlink_to(os.ttyname(slave))
        os.replace(tmp, self.path)
        with self._lock:
            self._master, self._slave = master, slave
            self._cable += 1
        self._plugged()
        with self._plug_cond:
            self.plugs += 1
            self._plug_cond.notify_all()

    def _plugged(self) -> None:
        """Called after each plug (a subclass restarts what it prints per connection)."""

    def _unplug_locked(self) -> None:
        for fd in (self._master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = None
        self._cable += 1

    def _replug(self, reboot: bool) -> None:
        # The node goes first, as udev removes /dev/ttyACM0 on unplug: a stale link
        # would point at a freed pty number that another process may get next, and a
        # host reconnecting by path would talk to a stranger.
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        with self._lock:
            self._unplug_locked()
        # Whatever half line was in the receive buffer went with the cable.
        self.decoder = SmpLineDecoder(max_frame=self.buf_size)
        if reboot:
            self._boot()
            if not self.comes_back:
                self.log.append("did not come back after the reset")
                return
        if self._stop.wait(self.replug_delay):
            return
        self._plug()

    # -- I/O ----------------------------------------------------------------------------
    def _say(self, text: str) -> None:
        self.log.append(text)
        self._send(f"{text}\n".encode(), droppable=True)

    def _send(self, data: bytes, *, droppable: bool) -> bool:
        with self._lock:
            if self._master is None:
                return False
            out = bytearray(data)
            if self.faults.flip_tx:
                base = self.tx_bytes
                for i in range(len(out)):
                    if base + i in self.faults.flip_tx:
                        out[i] ^= 1 << self._rng.randrange(8)
            fd = self._master
            view = memoryview(bytes(out))
            while view:
                piece = view[:64] if self.baud else view
                try:
                    n = os.write(fd, piece)
                except BlockingIOError:
                    if droppable and len(view) == len(out):
                        return False  # nobody reads: a line nobody hears is dropped
                    _, ready, _ = select.select([], [fd], [], 1.0)
                    if not ready:
                        return False
                    continue
                except OSError:
                    return False
                self.tx_bytes += n
                self._pacer_tx.consume(n)
                view = view[n:]
            return True

    def _io_loop(self) -> None:
        while not self._stop.is_set():
            if self._cycle.is_set() and not self.rx_buffers:
                self._do_power_cycle()
            with self._lock:
                fd, cable = self._master, self._cable
            if fd is None:
                self._stop.wait(0.01)
                continue
            try:
                ready, _, _ = select.select([fd], [], [], 0.05)
                if not ready:
                    continue
                # The firmware's thread unplugs under the lock, and the number it freed
                # is the next file it opens (boot.json, an image): read only while this is
                # still the same cable, or this thread steals that file's bytes (seen as
                # boot.json read empty, an image without its header).
                with self._lock:
                    if self._cable != cable:
                        continue
                    chunk = os.read(fd, 4096)
            except BlockingIOError:
                continue
            except OSError:
                continue  # the cable was pulled while we waited
            if not chunk:
                continue
            self._on_bytes(chunk)

    def _on_bytes(self, chunk: bytes) -> None:
        start = self.rx_bytes
        end = start + len(chunk)
        plan = self.faults
        event: str | None = None
        cut = min((c for c in plan.cut_at_rx if start <= c < end), default=None)
        reboot = min((c for c in plan.reboot_at_rx if start <= c < end), default=None)
        stop_at = min(x for x in (cut, reboot, end) if x is not None)
        if stop_at != end:
            event = "reboot" if stop_at == reboot else "cut"
            plan.cut_at_rx = [c for c in plan.cut_at_rx if c != stop_at]
            plan.reboot_at_rx = [c for c in plan.reboot_at_rx if c != stop_at]
        data = bytearray(chunk[: stop_at - start])
        if plan.flip_rx:
            for i in range(len(data)):
                if start + i in plan.flip_rx:
                    data[i] ^= 1 << self._rng.randrange(8)
        self.rx_bytes = stop_at  # a tail after a cut was lost on the wire: never received
        self._pacer_rx.consume(len(data))
        if self.rx_buffers:
            self._receive(bytes(data), event, stop_at)
            return
        try:
            for frame in self.decoder.feed(bytes(data)):
                response = self._answer(frame)
                if response is not None:
                    self._tx_frames += 1
                    if plan.garbage_tx_every and self._tx_frames % plan.garbage_tx_every == 0:
                        junk = bytes(self._rng.randrange(256) for _ in range(40))
                        self._send(junk.replace(b"\n", b"") + b"\n", droppable=False)
                    self._send(encode_frame(response), droppable=False)
                if self._reset_requested:
                    self._reset_requested = False
                    self._say("reset requested")
                    # Zephyr answers, then resets from a timer (CONFIG_MCUMGR_GRP_OS_RESET_MS):
                    # the answer leaves the UART before the line goes down.
                    self._stop.wait(RESET_DELAY_S)
                    self._replug(reboot=True)
                    return
        except PowerLoss as loss:
            self.log.append(f"power: {loss}")
            self._replug(reboot=True)
            return
        if event is not None:
            self.log.append(f"fault: {event} at byte {stop_at}")
            self._replug(reboot=event == "reboot")

    # -- the receive buffers and the firmware's own thread (rx_buffers > 0) ------------------
    def _receive(self, data: bytes, event: str | None, stop_at: int) -> None:
        for frame in self.decoder.feed(data):
            try:
                self._received.put_nowait(frame)
            except queue.Full:
                self.rx_overruns += 1  # no free buffer: the frame is lost, as on the device
        if event is not None:
            self.log.append(f"fault: {event} at byte {stop_at}")
            if event == "reboot":
                self._drain_received()
                self._received.put(None)  # the firmware thread reboots, in order
            else:
                self._replug(reboot=False)

    def _drain_received(self) -> None:
        while True:
            try:
                self._received.get_nowait()
            except queue.Empty:
                return

    def _handle_loop(self) -> None:
        while not self._stop.is_set():
            if self._cycle.is_set():
                self._drain_received()
                self._do_power_cycle()
            try:
                frame = self._received.get(timeout=0.05)
            except queue.Empty:
                continue
            try:
                if frame is None:
                    self._drain_received()
                    self._replug(reboot=True)
                    continue
                self._handle(frame)
            except PowerLoss as loss:
                self.log.append(f"power: {loss}")
                self._drain_received()  # RAM is gone with the power
                self._replug(reboot=True)

    def _handle(self, frame: bytes) -> None:
        response = self._answer(frame)
        plan = self.faults
        if response is not None:
            self._tx_frames += 1
            if plan.garbage_tx_every and self._tx_frames % plan.garbage_tx_every == 0:
                junk = bytes(self._rng.randrange(256) for _ in range(40))
                self._send(junk.replace(b"\n", b"") + b"\n", droppable=False)
            self._send(encode_frame(response), droppable=False)
        if self._reset_requested:
            self._reset_requested = False
            self._say("reset requested")
            self._stop.wait(RESET_DELAY_S)
            self._drain_received()
            self._replug(reboot=True)
