"""``edgeconsole sim serial``: an MCU-class device on a pseudo-terminal.

The firmware of EdgeConsole's own virtual device (SMP group 65: model slots,
self-test, inference) on the line of :class:`~edgeconsole.sim.pty_device.PtyDevice`
(pty, replug, faults). A telemetry thread prints readings of the synthetic
accelerometer (``sim.vibration``) plus the running model's score and inference
time, a whole line at a time, so telemetry never splits an SMP line.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edgeconsole.sim.device_model import DeviceModel, SelfTestResult, factory_image
from edgeconsole.sim.pty_device import FaultPlan, Pacer, PtyDevice
from edgeconsole.sim.smp_lines import SmpLineDecoder
from edgeconsole.sim.smp_server import DeviceHooks, Identity, SmpServer
from edgeconsole.sim.storage import DeviceStorage, PowerLoss
from edgeconsole.sim.vibration import CHANNELS as VIB_CHANNELS
from edgeconsole.sim.vibration import MachineProfile, VibrationSource
from edgeconsole.sources.photo_eye import PhotoEye

__all__ = ["TELEMETRY_CHANNELS", "FaultPlan", "Pacer", "VirtualSerialDevice"]

TELEMETRY_CHANNELS = (*VIB_CHANNELS, "score", "infer_ms")
HEADER_EVERY_S = 1.0  # a console that connects late learns the names within a second


class VirtualSerialDevice(PtyDevice, DeviceHooks):
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
        photo_eye: PhotoEye | None = None,
    ) -> None:
        """``photo_eye``: an I/O input on the simulated belt; each edge prints a
        ``@trigger,<n>,<t_us>`` line (edge number, the device's clock in µs)."""
        super().__init__(
            data_dir, baud=baud, buf_size=buf_size, faults=faults, replug_delay=replug_delay
        )
        self.identity = identity or Identity()
        self.seed = seed
        self.selftest_fail = False
        self._rate = float(rate)
        self.telemetry_lines = 0
        self.telemetry_dropped = 0
        self._header_due = 0.0
        self._models: dict[str, DeviceModel] = {}
        self._factory, self._factory_id = factory_image()
        self.storage = DeviceStorage(self.data_dir, self.faults.power)
        self.server = SmpServer(self.storage, buf_size=buf_size, identity=self.identity, hooks=self)
        self.photo_eye = photo_eye
        self.eye_lines = 0
        self.eye_dropped = 0
        if photo_eye is not None:
            photo_eye.emit = self._eye_edge

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

    def _answer(self, frame: bytes) -> bytes | None:
        return self.server.handle(frame)

    def _loops(self) -> list[Callable[[], None]]:
        return [self._telemetry_loop]

    def start(self) -> Path:
        path = super().start()
        if self.photo_eye is not None:
            self.photo_eye.start()
        return path

    def stop(self) -> None:
        if self.photo_eye is not None:
            self.photo_eye.stop()
        super().stop()

    def _eye_edge(self, n: int, t_ns: int) -> None:
        # The edge line goes out whole, between telemetry lines (one writer lock);
        # nobody reading: dropped and counted, and the edge numbers show the gap.
        if self._send(f"@trigger,{n},{t_ns // 1000}\n".encode(), droppable=True):
            self.eye_lines += 1
        else:
            self.eye_dropped += 1

    def _plugged(self) -> None:
        self._header_due = 0.0  # a new connection hears the channel names at once

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
