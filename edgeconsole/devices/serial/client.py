"""``SerialTarget``: a serial device as a :class:`~edgeconsole.devices.target.Target`.

All I/O runs on one asyncio loop in a background thread (DESIGN section 3); the
public methods are synchronous and safe to call from the CLI or a worker
thread. A device that answers SMP is identified through the EdgeConsole app
group (65), or the OS group when it lacks ours; a device that only prints CSV
lines (any Arduino sketch) still connects, for telemetry only.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar

import numpy as np
from smpclient import SMPClient
from smpclient.exceptions import SMPBadSequence, SMPValidationException
from smpclient.generics import error, success
from smpclient.requests.os_management import EchoWrite, MCUMgrParametersRead

from edgeconsole.core.buffers import RingBuffer
from edgeconsole.core.errors import DeviceDisconnected, DeviceError
from edgeconsole.devices.loop import LoopThread
from edgeconsole.devices.ref import SerialAddress, parse_serial
from edgeconsole.devices.serial import appgroup as app
from edgeconsole.devices.serial import smp_errors
from edgeconsole.devices.serial.ports import refind
from edgeconsole.devices.serial.transport import EdgeSerialTransport
from edgeconsole.devices.target import (
    FlashJobBase,
    Payload,
    ProgressFn,
    SelfTest,
    SlotInfo,
    TargetInfo,
)

T = TypeVar("T")

# smpclient logs every timeout and unparsable answer at ERROR with the raw frame; with no
# logging set up, Python prints that dump to the terminal. Every such case reaches the
# person as a sentence from here (smp_errors), so the library's copy goes nowhere unless
# an application configures logging itself.
logging.getLogger("smpclient").addHandler(logging.NullHandler())

#: Times the identity probe is sent before a silent device is taken for telemetry only.
PROBE_ATTEMPTS = 3
#: How long a repeated probe waits (the first waits the full timeout).
RETRY_PROBE_S = 1.0


class WrongDevice(DeviceError):
    """The port came back with another device on it (checked by serial number)."""


def _slots(answer: Any) -> list[SlotInfo]:
    out: list[SlotInfo] = []
    for raw in answer.slots:
        i = int(raw.get("index", len(out)))
        out.append(
            SlotInfo(
                index=i,
                state=str(raw.get("state", "")),
                bundle_id=str(raw.get("bundle_id", "")),
                version=int(raw.get("version", 0)),
                sha256=str(raw.get("sha256", "")),
                length=int(raw.get("length", 0)),
                attempts=int(raw.get("attempts", 0)),
                running=i == answer.running,
                confirmed=i == answer.confirmed,
            )
        )
    return out


class SerialTarget:
    """A device on a serial port. ``connect()`` first; ``close()`` at the end."""

    def __init__(
        self,
        target: str | SerialAddress,
        *,
        timeout_s: float = 2.5,
        loop: LoopThread | None = None,
        text_capacity: int = 4096,
    ) -> None:
        self.address = parse_serial(target) if isinstance(target, str) else target
        self.url = self.address.url
        self.timeout_s = timeout_s
        self._own_loop = loop is None
        self.io = loop or LoopThread()
        #: Raw non-SMP bytes (telemetry and log), newest kept; parse them above devices.
        self.text: RingBuffer[tuple[int, bytes]] = RingBuffer(text_capacity)
        #: Called on the reader's thread with (arrival ns, bytes) of every text chunk.
        self.text_tap: Callable[[int, bytes], None] | None = None
        #: One entry per unplug the link saw (the Disconnected events).
        self.disconnects: list[str] = []
        self.on_disconnect: Callable[[str], None] | None = None
        self.smp = True  # False for a plain CSV device
        #: True once the device answered EdgeConsole's group 65; an SMP device without it
        #: is a stock Zephyr/MCUmgr device (``devices.serial.stock.StockTarget``).
        self.app_group = False
        #: The device's SMP buffers (MCUmgr params): more than one lets an upload keep a
        #: second chunk on the wire while the first is written (devices/serial/pipeline.py).
        self.buf_count = 1
        self._info: TargetInfo | None = None
        self.transport = self._new_transport()
        self.client = SMPClient(self.transport, self.address.path, timeout_s)

    def _new_transport(self) -> EdgeSerialTransport:
        return EdgeSerialTransport(
            baud=self.address.baud, on_text=self._on_text, on_disconnect=self._on_lost
        )

    def _on_text(self, data: bytes) -> None:
        stamp = time.perf_counter_ns()
        self.text.append((stamp, data))
        tap = self.text_tap
        if tap is not None:  # event lines (photo-eye edges) are wanted now, not next batch
            tap(stamp, data)

    def _on_lost(self, why: str) -> None:
        self.disconnects.append(why)
        if self.on_disconnect is not None:
            self.on_disconnect(why)

    # -- connection --------------------------------------------------------------------
    def connect(self, *, probe: bool = True) -> TargetInfo | None:
        """Open the port and (with ``probe``) identify the device."""
        path = refind(self.address) or self.address.path
        self.client = SMPClient(self.transport, path, self.timeout_s)
        self.io.run(self.transport.connect(path, self.timeout_s))
        if not probe:
            return None
        return self.identify()

    def reconnect(self, timeout_s: float = 10.0) -> TargetInfo | None:
        """Wait for the device to come back (same VID/PID/serial, or path) and reopen it."""
        deadline = time.monotonic() + timeout_s
        last: Exception | None = None
        before = self._info
        self.io.run(self.transport.disconnect())
        while time.monotonic() < deadline:
            if refind(self.address) is not None:
                try:
                    was_smp = self.smp
                    self.connect(probe=False)
                    # The first exchange proves the device is really there.
                    info = self.identify(attempts=1)  # the loop here retries
                    if was_smp and not self.smp:
                        self.smp = True
                        raise DeviceError("no answer yet after reconnecting")
                    self._same_device(before, info)
                    return info
                except WrongDevice:
                    raise
                except (DeviceError, TimeoutError) as exc:
                    last = exc
                    self.io.run(self.transport.disconnect())
            time.sleep(0.02)  # waiting on the OS to re-create the device node
        raise DeviceDisconnected(
            f"device did not come back within {timeout_s:.0f} s",
            subject=self.address.path,
            hint=f"plug it in again; last error: {last}" if last else "plug it in again",
        )

    def _same_device(self, before: TargetInfo | None, now: TargetInfo) -> None:
        """A path that comes back may lead to another device (a reused port number, a
        swapped cable): never resume a flash or a trial on a stranger."""
        if before is None or not before.serial or not now.serial or before.serial == now.serial:
            return
        self.io.run(self.transport.disconnect())
        self._info = before
        raise WrongDevice(
            f"a different device answered after reconnecting ({now.name} {now.serial}, not "
            f"{before.name} {before.serial})",
            subject=self.address.path,
            hint="plug the device back in where it was; nothing was sent to the other one",
        )

    def close(self) -> None:
        try:
            self.io.run(self.transport.disconnect(), timeout=5)
        finally:
            if self._own_loop:
                self.io.stop()

    def __enter__(self) -> SerialTarget:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests -----------------------------------------------------------------------
    def request(self, req: Any, timeout_s: float | None = None) -> Any:
        async def go() -> Any:
            return await self.client.request(req, timeout_s or self.timeout_s)

        action = smp_errors.action_of(req)
        try:
            answer = self.io.run(go())
        except TimeoutError:
            raise smp_errors.NoAnswer(
                f"no answer to {action} within {timeout_s or self.timeout_s:.1f} s",
                subject=self.address.path,
                hint=(
                    # A link that answered a moment ago stalled; the baud rate was right.
                    "it answered before: check the cable, or whether the device is busy"
                    if self._info is not None and self.smp
                    else "is it an SMP device at this baud rate? try `edgeconsole telemetry`"
                ),
            ) from None
        except (SMPBadSequence, SMPValidationException) as exc:
            # An answer that is not the one awaited, or not a valid answer to this request:
            # what it held stays in the debug log, the person gets a sentence.
            raise DeviceError(
                f"{action} failed: the device's answer was not a valid answer to it",
                subject=self.address.path,
                hint=f"check that the device runs the firmware you expect ({type(exc).__name__})",
            ) from None
        if error(answer):
            raise smp_errors.device_error(answer, action=action, subject=self.address.path)
        assert success(answer)
        return answer

    def identify(self, attempts: int = PROBE_ATTEMPTS) -> TargetInfo:
        """Ask who the device is. A probe that gets no answer is asked again before the
        device is taken for a plain text (telemetry) device: one frame lost on a noisy
        line, or a device still booting, must not demote an SMP device for good."""
        params: Any = None
        for attempt in range(max(1, attempts)):
            # An SMP device answers a repeated probe in milliseconds: the retries wait less,
            # so a plain CSV device (which never answers) is not kept waiting 3 x timeout.
            wait = self.timeout_s if attempt == 0 else min(self.timeout_s, RETRY_PROBE_S)
            try:
                params = self.io.run(self.client.request(MCUMgrParametersRead(), wait))
                break
            except TimeoutError:
                continue
            except (SMPBadSequence, SMPValidationException):
                params = False  # it answered something SMP-framed: an SMP device
                break
        if params is None:
            self.smp = False
            self._info = TargetInfo(self.url, "plain serial device (telemetry only)")
            return self._info
        if params is not False and success(params):
            self.transport.initialize(params.buf_size)
            self.buf_count = int(params.buf_count)
        self.smp = True
        self.app_group = False
        try:
            info = self.request(app.InfoRead())
            self._info = TargetInfo(
                self.url,
                info.name,
                info.serial,
                info.hw_id,
                info.fw_version,
                info.buf_size,
                {"app_group": info.app_group},
            )
            self.app_group = True
        except DeviceError:
            self._info = TargetInfo(
                self.url, "SMP device (no EdgeConsole group)", buf_size=self.transport.mtu
            )
        return self._info

    def info(self) -> TargetInfo:
        return self._info or self.identify()

    def require_smp(self) -> None:
        if not self.smp:
            # Probe once more before refusing: the device may have been booting, or its
            # answer lost, when it was first asked.
            self.identify(attempts=1)
        if not self.smp:
            raise DeviceError(
                "device does not speak SMP: telemetry only",
                subject=self.address.path,
                hint="flash an SMP-enabled firmware (Zephyr MCUmgr) to manage bundles",
            )

    def echo(self, text: str) -> str:
        return str(self.request(EchoWrite(d=text)).r)

    def slots(self) -> list[SlotInfo]:
        self.require_smp()
        return _slots(self.request(app.SlotsRead()))

    def activate(self, slot: int, payload: Any = None) -> list[SlotInfo]:
        self.require_smp()
        kwargs: dict[str, Any] = {"slot": slot}
        if payload is not None:
            kwargs.update(bundle_id=payload.bundle_id, bundle_version=payload.version)
        return _slots(self.request(app.ActivateWrite(**kwargs)))

    def self_test(self, slot: int | None = None) -> SelfTest:
        self.require_smp()
        r = self.request(app.SelfTestWrite(slot=slot), timeout_s=max(self.timeout_s, 10.0))
        return SelfTest(r.slot, r.passed, r.detail, r.rolled_back, r.max_error, r.p95_ms)

    def confirm(self, slot: int | None = None) -> list[SlotInfo]:
        self.require_smp()
        return _slots(self.request(app.ConfirmWrite(slot=slot)))

    def rollback(self) -> list[SlotInfo]:
        self.require_smp()
        return _slots(self.request(app.RollbackWrite()))

    def flash_job(
        self,
        payload: Payload,
        *,
        mode: Literal["trial", "confirm"] = "confirm",
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
    ) -> FlashJobBase:
        from edgeconsole.devices.serial.flash import SerialFlashJob

        return SerialFlashJob(self, payload, mode=mode, progress=progress, cancel=cancel)

    def set_stream_rate(self, hz: float) -> float:
        self.require_smp()
        return float(self.request(app.StreamWrite(rate=hz)).rate)

    def infer(
        self, inputs: Mapping[str, np.ndarray] | np.ndarray, timeout_s: float | None = None
    ) -> tuple[dict[str, np.ndarray], int]:
        """Run the active slot's model on one input tensor: (outputs by name, device µs)."""
        from edgeconsole.devices.serial.infer import run_infer

        return run_infer(self, inputs, timeout_s=timeout_s)

    def upload(self, payload: Any, progress: Any = None) -> int:
        from edgeconsole.devices.serial.flash import upload_with_resume

        return upload_with_resume(self, payload, progress)
