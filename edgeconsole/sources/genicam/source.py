"""``aravis://DEVICE_ID`` and ``pylon://SERIAL``: an industrial camera as a FrameSource.

Frames carry the camera's own frame id and timestamp (``Frame.camera``), and
``capture_started_ns`` is the exposure on our clock when the camera says when it
was, else the software trigger that asked for the frame, else the arrival, so the
``capture`` stage is what the link and driver cost, never our idle wait.

Frames with missing packets are counted and reported, never handed on to be
judged. A camera that stops answering (unplugged, powered off, its control
channel lost) is reopened with back-off and the source says so (``drain_notices``).
With ``trigger=software`` and a rate, the source fires the camera's
``TriggerSoftware`` at that many parts per minute and counts one frame per trigger.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2

from edgeconsole.core.clock import now_ns
from edgeconsole.core.errors import (
    CameraFeatureError,
    EdgeConsoleError,
    SourceDisconnected,
    SourceError,
)
from edgeconsole.core.frames import CameraStamp, Frame
from edgeconsole.sources._base import SourceBase
from edgeconsole.sources._live import Dropped, ReconnectPolicy
from edgeconsole.sources.genicam.clock import CameraClock
from edgeconsole.sources.genicam.device import Backend, CameraDevice, StreamStats
from edgeconsole.sources.genicam.pixels import to_pipeline
from edgeconsole.sources.genicam.triggers import SoftwareTriggerPacer, TriggerLedger, check_rate

log = logging.getLogger(__name__)

#: How long one grab waits before the loop looks at close() and the link again.
GRAB_SLICE_S = 0.1
#: Without frames for this long the control channel is probed (free run or not).
PROBE_AFTER_S = 1.0
#: At most this many notices about incomplete frames per 10 s (the count is exact).
NOTICE_BURST = 3

Opener = Callable[[], CameraDevice]


def open_device(backend: Backend, device_id: str) -> CameraDevice:
    if backend == "aravis":
        from edgeconsole.sources.genicam.aravis_device import open_aravis

        return open_aravis(device_id or None)
    from edgeconsole.sources.genicam.pylon_device import open_pylon

    return open_pylon(device_id or None)


class IndustrialCameraSource(SourceBase):
    kind = "industrial camera"

    def __init__(
        self,
        backend: Backend,
        device_id: str = "",
        *,
        setup: Path | None = None,
        trigger: str | None = None,
        rate_per_min: float | None = None,
        policy: ReconnectPolicy | None = None,
        opener: Opener | None = None,
        trigger_timeout_s: float | None = None,
        fps: float | None = None,
        images: Path | None = None,
    ) -> None:
        super().__init__(f"{backend}://{device_id}")
        self.backend: Backend = backend
        self.device_id = device_id
        self.setup_path = setup
        self.trigger = trigger
        if rate_per_min is not None:
            check_rate(rate_per_min)
            if (trigger or "software").lower() != "software":
                raise SourceError(
                    "a trigger rate needs trigger=software",
                    subject=self.name,
                    hint="drop rate=..., or use trigger=software",
                )
            self.trigger = "software"
        self.rate_per_min = rate_per_min
        self.req_fps = fps
        self.images = images
        self.policy = policy or ReconnectPolicy()
        self._opener = opener or (lambda: open_device(backend, device_id))
        self._device: CameraDevice | None = None
        self._dev_lock = threading.Lock()
        self.clock = CameraClock(self._latch_now)
        period = 60.0 / rate_per_min if rate_per_min else 0.0
        self.ledger = TriggerLedger(trigger_timeout_s or max(1.0, 3 * period))
        self._pacer: SoftwareTriggerPacer | None = None
        self._link_base = StreamStats()  # counters of connections that ended
        self._frames = StreamStats()  # what we saw per frame (incomplete, id gaps)
        self.failed_frames = 0
        self._notices: deque[tuple[str, str]] = deque(maxlen=200)
        self._incomplete_window: deque[int] = deque(maxlen=NOTICE_BURST)
        self._last_activity = 0
        self._fps: float | None = None
        self.width = self.height = 0
        self.last_error: str | None = None
        self.camera_info: dict[str, Any] | None = None
        self.applied_setup: list[dict[str, Any]] = []
        #: Trigger features this source changed for its run, restored on close: a URL
        #: option is for this run; `camera set` and setup files are what persists.
        self._restore: list[tuple[str, Any]] = []

    @property
    def device(self) -> CameraDevice | None:
        """The open camera (None while closed or reconnecting), for setup while it runs."""
        return self._device

    # -- FrameSource --------------------------------------------------------------
    @property
    def nominal_fps(self) -> float | None:
        return self._fps

    def open(self) -> None:
        super().open()
        # The pacer starts once the source is open: a trigger fired earlier would be
        # refused (state not open) and counted as an error.
        with self._lifecycle:
            if self.trigger == "software" and self.rate_per_min and self._pacer is None:
                self._pacer = SoftwareTriggerPacer(self.fire_trigger, self.rate_per_min)
                self._pacer.start()

    def _open(self) -> None:
        self._install(self._connect())

    def _close(self) -> None:
        pacer = self._pacer
        if pacer is not None:
            pacer.stop()
        self.clock.close()
        with self._dev_lock:
            dev, self._device = self._device, None
        if dev is not None:
            self._put_back(dev)
            self._retire(dev)

    def _put_back(self, dev: CameraDevice) -> None:
        if not self._restore:
            return
        dev.stop()
        for name, value in reversed(self._restore):
            try:
                dev.set_feature(name, value)
            except (EdgeConsoleError, Dropped):
                pass  # a camera that is gone keeps whatever it had
        self._restore.clear()

    def _read_frame(self) -> Frame | None:
        while not self.closing:
            dev = self._device
            if dev is None:
                return None
            try:
                raw = dev.grab(GRAB_SLICE_S)
                if raw is None:
                    self._idle(dev)
                    continue
            except Dropped as exc:
                if self.closing:
                    return None
                self._lost(dev, str(exc))
                continue
            self._last_activity = raw.arrived_ns
            self._frames.add(raw.stats_delta)
            match = self.ledger.match(raw.arrived_ns) if self.trigger == "software" else None
            if raw.status != "ok":
                self._not_judged(raw.frame_id, raw.status, raw.detail)
                continue
            try:
                image = to_pipeline(raw.data, raw.pixel_format)
            except cv2.error as exc:
                self.failed_frames += 1
                self._notice("warning", f"frame {raw.frame_id} could not be converted: {exc}")
                continue
            exposure = self.clock.to_host(raw.camera_ns, raw.arrived_ns)
            clock: str
            if exposure is not None:
                clock, started = self.clock.method, exposure
            elif match is not None:
                clock, started = "trigger", match.issued_ns
            else:
                clock, started = "arrival", raw.arrived_ns
            self.height, self.width = image.shape[:2]
            frame = self._make_frame(image, started_ns=started, captured_ns=raw.arrived_ns)
            frame.camera = CameraStamp(
                frame_id=raw.frame_id,
                camera_ns=raw.camera_ns,
                clock=clock,
                trigger_seq=None if match is None else match.seq,
                trigger_ns=None if match is None else match.issued_ns,
            )
            return frame
        return None

    def _latch_now(self) -> int | None:
        dev = self._device
        if dev is None:  # reconnecting: not an answer about the camera's latch
            raise Dropped("camera not connected")
        return dev.latch_timestamp()

    # -- triggers ------------------------------------------------------------------
    def fire_trigger(self) -> int:
        """Issue one software trigger; returns its sequence number. Raises
        SourceDisconnected while the camera is away, CameraFeatureError when the
        camera refuses (trigger mode off, no TriggerSoftware)."""
        dev = self._device
        if dev is None or self.state != "open":
            raise SourceDisconnected("the camera is not connected", subject=self.name)
        match = self.ledger.issue()
        try:
            dev.execute("TriggerSoftware")
        except (EdgeConsoleError, Dropped):
            self.ledger.withdraw(match)
            raise
        return match.seq

    # -- connection ------------------------------------------------------------------
    def _connect(self) -> CameraDevice:
        dev = self._opener()
        try:
            self.camera_info = dev.info.to_json()
            if self.setup_path is not None:
                from edgeconsole.sources.genicam.setup_file import apply_setup, load_setup

                self.applied_setup = apply_setup(dev, load_setup(self.setup_path))
            if self.images is not None:
                from edgeconsole.sources.genicam.pylon_emu import feed_images

                feed_images(dev, self.images)
            if self.req_fps is not None:
                self._set_rate(dev, self.req_fps)
            self._configure_trigger(dev)
            self._fps = self._rate(dev)
            dev.start()
        except BaseException:
            dev.close()
            raise
        return dev

    def _configure_trigger(self, dev: CameraDevice) -> None:
        mode = (self.trigger or "").strip()
        if not mode:
            try:
                on = dev.feature("TriggerMode").value == "On"
                src = dev.feature("TriggerSource").value if on else None
            except CameraFeatureError:
                on, src = False, None
            if on:
                self._notice(
                    "warning",
                    f"{self.name}: the camera is in trigger mode ({src}): frames come only "
                    "when it is triggered"
                    + (
                        " (use Trigger in the camera panel, or ?trigger=software&rate=N)"
                        if src == "Software"
                        else ""
                    )
                    + "; ?trigger=off runs it free",
                )
            if on and src == "Software":
                self.trigger = "software"  # the camera was set up for it: count per trigger
            return
        if not self._restore:
            for name in ("TriggerMode", "TriggerSource"):
                try:
                    self._restore.append((name, dev.feature(name).value))
                except CameraFeatureError:
                    continue
        try:
            if dev.feature("TriggerSelector").writable:
                options = dev.feature("TriggerSelector").options
                if "FrameStart" in options:
                    dev.set_feature("TriggerSelector", "FrameStart")
        except CameraFeatureError:
            pass  # cameras without a selector have a single (frame start) trigger
        if mode.lower() == "off":
            dev.set_feature("TriggerMode", "Off")
            self.trigger = None
            return
        dev.set_feature("TriggerSource", "Software" if mode.lower() == "software" else mode)
        dev.set_feature("TriggerMode", "On")
        self.trigger = "software" if mode.lower() == "software" else mode

    def _set_rate(self, dev: CameraDevice, fps: float) -> None:
        try:
            if dev.feature("AcquisitionFrameRateEnable").writable:
                dev.set_feature("AcquisitionFrameRateEnable", True)
        except CameraFeatureError:
            pass  # cameras without the switch apply the rate directly
        dev.set_feature("AcquisitionFrameRate", fps)

    def _rate(self, dev: CameraDevice) -> float | None:
        if self.trigger == "software" and self.rate_per_min:
            return self.rate_per_min / 60.0
        if self.trigger:
            return None
        try:
            value = dev.feature("AcquisitionFrameRate").value
        except CameraFeatureError:
            return None
        return float(value) if isinstance(value, int | float) and value > 0 else None

    def _install(self, dev: CameraDevice) -> None:
        with self._dev_lock:
            self._device = dev
        # The first latch runs here, before any frame waits on it; renewals run on the
        # clock's own thread (a control-channel round trip never delays a frame).
        try:
            self.clock.relatch()
        except (EdgeConsoleError, Dropped):
            pass  # frames are placed by the estimate until a renewal succeeds
        self._last_activity = now_ns()

    def _retire(self, dev: CameraDevice) -> None:
        try:
            self._link_base.add(dev.stats())
        except Exception:
            pass
        dev.close()

    def _idle(self, dev: CameraDevice) -> None:
        self.ledger.expire()
        if now_ns() - self._last_activity < PROBE_AFTER_S * 1e9:
            return
        self._last_activity = now_ns()
        if not dev.alive():
            self._lost(dev, "the camera stopped answering")

    def _lost(self, dev: CameraDevice, why: str) -> None:
        self.last_error = why
        self._notice("warning", f"{self.name}: {why}; reconnecting")
        log.warning("%s: %s; reconnecting", self.name, why)
        self.state = "reconnecting"
        with self._dev_lock:
            if self._device is dev:
                self._device = None
        self._retire(dev)
        self.clock.reset()
        started = now_ns()
        delay = self.policy.initial_s
        attempts = 0
        while not self.closing:
            if self.policy.max_attempts is not None and attempts >= self.policy.max_attempts:
                self.state = "ended"
                self._notice("error", f"{self.name}: gave up after {attempts} attempts")
                raise SourceDisconnected(
                    f"camera lost and {attempts} reconnect attempts failed (last: {why})",
                    subject=self.name,
                    hint="check the cable, power and network, then start the source again",
                )
            if self._wait(delay):
                return
            attempts += 1
            try:
                new = self._connect()
            except EdgeConsoleError as exc:
                why = exc.what
                self.last_error = why
                delay = min(delay * self.policy.factor, self.policy.max_delay_s)
                continue
            if self.closing:
                self._retire(new)
                return
            self._install(new)
            self.reconnects += 1
            self.state = "open"
            took = (now_ns() - started) / 1e9
            self._notice(
                "info",
                f"{self.name}: camera back after {attempts} attempt(s) ({took:.1f} s); "
                "frames from the gap are lost",
            )
            return

    # -- reporting -----------------------------------------------------------------
    def _not_judged(self, frame_id: int, status: str, detail: str) -> None:
        if status != "incomplete":
            self.failed_frames += 1
        t = now_ns()
        window = self._incomplete_window
        if len(window) < NOTICE_BURST or t - window[0] > 10e9:
            window.append(t)
            if status == "incomplete":
                what = f"arrived incomplete ({detail})" if detail else "had missing packets"
            else:
                what = f"failed ({detail})"
            self._notice("warning", f"{self.name}: frame {frame_id} {what}: not judged (counted)")

    def _notice(self, level: str, text: str) -> None:
        self._notices.append((level, text))

    def drain_notices(self) -> list[tuple[str, str]]:
        out = []
        while self._notices:
            out.append(self._notices.popleft())
        return out

    def stream_stats(self) -> StreamStats:
        total = self._link_base.copy()
        dev = self._device
        if dev is not None:
            try:
                total.add(dev.stats())
            except Exception:
                pass
        total.incomplete = max(total.incomplete, self._frames.incomplete)
        total.missing_frames = max(total.missing_frames, self._frames.missing_frames)
        return total

    def camera_stats(self) -> dict[str, Any]:
        """Everything the latency panel and the recording show about the camera."""
        trig: dict[str, Any] = {"mode": self.trigger or "free run", **self.ledger.to_json()}
        lat = sorted(self.ledger.latencies_ns)
        if lat:
            trig["latency_ms"] = {
                "p50": round(lat[len(lat) // 2] / 1e6, 3),
                "p99": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))] / 1e6, 3),
            }
        pacer = self._pacer
        if pacer is not None:
            trig.update(
                rate_per_min=pacer.per_minute,
                fired=pacer.fired,
                skipped=pacer.skipped,
                errors=pacer.errors,
            )
        return {
            "source": self.name,
            "camera": self.camera_info,
            "state": self.state,
            "reconnects": self.reconnects,
            "stream": self.stream_stats().to_json(),
            "failed_frames": self.failed_frames,
            "clock": self.clock.describe(),
            "trigger": trig,
            "last_error": self.last_error,
        }

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "backend": self.backend,
            "name": self.name,
            "width": self.width,
            "height": self.height,
            "fps": self._fps,
            "frames": None,
            "state": self.state,
            "reconnects": self.reconnects,
            "camera": self.camera_info,
        }
