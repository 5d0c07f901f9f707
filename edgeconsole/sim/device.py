"""``edgeconsole sim serial``: an MCU-class device on a pseudo-terminal.

The device owns a pty pair. The host side is reached through a stable symlink
``<data_dir>/tty`` (like ``/dev/serial/by-id/...``): when the device "unplugs"
(a cut cable, a reboot, a power loss) it closes the pty, so the host's reads
fail the way a vanished USB device fails, and on "replug" it opens a fresh pty
and points the symlink at it.

One I/O thread reads requests (paced at the line rate when ``baud`` is set,
with faults applied byte by byte), answers them through the SMP server, and
performs resets. A telemetry thread prints readings of the synthetic
accelerometer (``sim.vibration``) plus the running model's score and inference
time. Both write through one lock, a whole line at a time, so telemetry never
splits an SMP line.
"""

from __future__ import annotations

import contextlib
import os
import random
import select
import threading
import time
import tty
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeconsole.sim.device_model import DeviceModel, SelfTestResult, factory_image
from edgeconsole.sim.smp_lines import SmpLineDecoder, encode_frame
from edgeconsole.sim.smp_server import DeviceHooks, Identity, SmpServer
from edgeconsole.sim.storage import DeviceStorage, PowerLoss, PowerRail
from edgeconsole.sim.vibration import CHANNELS as VIB_CHANNELS
from edgeconsole.sim.vibration import MachineProfile, VibrationSource

TELEMETRY_CHANNELS = (*VIB_CHANNELS, "score", "infer_ms")
HEADER_EVERY_S = 1.0  # a console that connects late learns the names within a second


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


class VirtualSerialDevice(DeviceHooks):
    def __init__(
        self,
        data_dir: Path,
        *,
        baud: int | None = None,
        buf_size: int = 2048,
        rate: float = 50.0,
        faults: FaultPlan | None = None,
        identity: Identity | None = None,
        seed: int = 0,
        replug_delay: float = 0.02,
    ) -> None:
        if buf_size < 64 or buf_size > 65535:
            raise ValueError("buf_size must be 64..65535")
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.data_dir / "tty"
        self.baud = baud
        self.buf_size = buf_size
        self.faults = faults or FaultPlan()
        self.identity = identity or Identity()
        self.seed = seed
        self.replug_delay = replug_delay
        self.selftest_fail = False
        self._rate = float(rate)
        self._lock = threading.Lock()  # one writer on the line at a time
        self._plug_cond = threading.Condition()
        self.plugs = 0  # times a pty was attached (1 after start)
        self.boots = 0
        self.rx_bytes = 0
        self.tx_bytes = 0
        self.telemetry_lines = 0
        self.telemetry_dropped = 0
        self.log: deque[str] = deque(maxlen=200)
        self._master: int | None = None
        self._slave: int | None = None
        self._stop = threading.Event()
        self._reset_requested = False
        self._threads: list[threading.Thread] = []
        self._models: dict[str, DeviceModel] = {}
        self._factory, self._factory_id = factory_image()
        self.storage = DeviceStorage(self.data_dir, self.faults.power)
        self.server = SmpServer(self.storage, buf_size=buf_size, identity=self.identity, hooks=self)
        self.decoder = SmpLineDecoder(max_frame=buf_size)
        self._pacer_rx = Pacer(baud)
        self._pacer_tx = Pacer(baud)
        self._tx_frames = 0
        self._rng = random.Random(self.faults.seed)

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> Path:
        self._boot()
        self._plug()
        for target in (self._io_loop, self._telemetry_loop):
            t = threading.Thread(target=target, name=f"sim-{target.__name__}", daemon=True)
            t.start()
            self._threads.append(t)
        return self.path

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5)
        with self._lock:
            self._unplug_locked()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def __enter__(self) -> VirtualSerialDevice:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_plugs(self, count: int, timeout: float = 10.0) -> bool:
        """Wait until the pty has been (re)attached ``count`` times in total."""
        with self._plug_cond:
            return self._plug_cond.wait_for(lambda: self.plugs >= count, timeout)

    def _boot(self) -> None:
        """Power-on: whatever is on flash decides what runs. A cut here just boots again."""
        self.server.upload = None
        self.decoder = SmpLineDecoder(max_frame=self.buf_size)
        while True:
            try:
                table = self.storage.boot(self._factory, self._factory_id)
                break
            except PowerLoss as loss:
                self._say(f"power: {loss}")
        self.boots += 1
        self.running_changed()
        rec = table.slot(table.running) if table.running is not None else None
        if rec is not None:
            self._say(f"boot {self.boots}: running slot {rec.index} {rec.bundle_id} v{rec.version}")

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
        self._header_due = 0.0
        with self._plug_cond:
            self.plugs += 1
            self._plug_cond.notify_all()

    def _unplug_locked(self) -> None:
        for fd in (self._master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = None

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
        if self._stop.wait(self.replug_delay):
            return
        self._plug()

    # -- hooks from the SMP server -------------------------------------------------------
    def request_reset(self) -> None:
        self._reset_requested = True

    def set_stream_rate(self, hz: float) -> float:
        self._rate = hz
        return hz

    def stream_rate(self) -> float:
        return self._rate

    def _model(self, slot: int) -> DeviceModel:
        rec = self.storage.table.slot(slot)
        model = self._models.get(rec.sha256)
        if model is None:
            model = DeviceModel(self.storage.read_payload(slot))
            self._models = {rec.sha256: model}  # keep one: an MCU has little RAM
        return model

    def running_changed(self) -> None:
        running = self.storage.table.running
        self.model = self._model(running) if running is not None else None

    def running_model(self) -> DeviceModel | None:
        return getattr(self, "model", None)

    def self_test(self, slot: int) -> SelfTestResult:
        if self.selftest_fail:
            return SelfTestResult(False, "health check failed (injected fault)")
        return self._model(slot).self_test()

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
            fd = self._master
            if fd is None:
                self._stop.wait(0.01)
                continue
            try:
                ready, _, _ = select.select([fd], [], [], 0.05)
                if not ready:
                    continue
                chunk = os.read(fd, 4096)
            except OSError:
                continue  # swapped under us by a replug
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
        try:
            for frame in self.decoder.feed(bytes(data)):
                response = self.server.handle(frame)
                if response is not None:
                    self._tx_frames += 1
                    if plan.garbage_tx_every and self._tx_frames % plan.garbage_tx_every == 0:
                        junk = bytes(self._rng.randrange(256) for _ in range(40))
                        self._send(junk.replace(b"\n", b"") + b"\n", droppable=False)
                    self._send(encode_frame(response), droppable=False)
                if self._reset_requested:
                    self._reset_requested = False
                    self._say("reset requested")
                    self._replug(reboot=True)
                    return
        except PowerLoss as loss:
            self.log.append(f"power: {loss}")
            self._replug(reboot=True)
            return
        if event is not None:
            self.log.append(f"fault: {event} at byte {stop_at}")
            self._replug(reboot=event == "reboot")

    def _telemetry_loop(self) -> None:
        rate_hz = 200.0
        source = VibrationSource(self.seed, profile=MachineProfile(sample_rate_hz=rate_hz))
        history = np.zeros((0, 3))
        score, infer_ms = float("nan"), float("nan")
        next_t = time.perf_counter()
        since_score = 0
        while not self._stop.is_set():
            rate = self._rate
            if rate <= 0 or self._master is None:
                self._stop.wait(0.05)
                next_t = time.perf_counter()
                continue
            now = time.perf_counter()
            if now < next_t:
                self._stop.wait(min(next_t - now, 0.05))
                continue
            # Catch up in one batch when late (at most 0.1 s of lines).
            n = max(1, min(int((now - next_t) * rate) + 1, int(rate * 0.1) + 1))
            next_t += n / rate
            if now - self._header_due >= 0:
                self._header_due = now + HEADER_EVERY_S
                self._send(("# " + ",".join(TELEMETRY_CHANNELS) + "\n").encode(), droppable=True)
            rows = source.read(n)
            base = len(history)
            joined = np.concatenate([history, rows[:, :3]])
            history = joined[-256:]
            lines = []
            model = getattr(self, "model", None)
            for i, row in enumerate(rows):
                since_score += 1
                if model is not None and model.window and since_score >= model.window // 2:
                    since_score = 0
                    # Score the window that ends at this very reading, so the score printed
                    # on a line belongs to that line even when a late batch catches up.
                    result = model.score(joined[: base + i + 1][-256:])
                    if result is not None:
                        score, infer_ms = result
                lines.append(
                    f"{row[0]:.4f},{row[1]:.4f},{row[2]:.4f},{row[3]:.2f},{score:.4f},{infer_ms:.3f}\n"
                )
            for line in lines:
                if self._send(line.encode(), droppable=True):
                    self.telemetry_lines += 1
                else:
                    self.telemetry_dropped += 1
