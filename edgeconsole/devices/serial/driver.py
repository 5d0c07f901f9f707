"""The session's driver of a serial link (``devices.driver.TargetDriver``).

Whatever answers on the port: EdgeConsole firmware (group 65: bundles in slots), a
stock Zephyr/MCUmgr device (MCUboot images: its own jobs in session/stock_jobs.py),
or a plain text device (telemetry only). The serial stack (smpclient, pyserial) is
imported when the driver connects, not when the window starts.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from edgeconsole.core.errors import DeviceError
from edgeconsole.devices.driver import DriverHooks, Reading, SlotsOnDevice
from edgeconsole.devices.ref import TargetRef
from edgeconsole.devices.target import FlashJobBase, Payload, ProgressFn

if TYPE_CHECKING:
    from edgeconsole.devices.loop import LoopThread
    from edgeconsole.devices.serial.client import SerialTarget
    from edgeconsole.devices.serial.stock import StockTarget

#: The link's reads and writes wait this long for an answer.
TIMEOUT_S = 2.5
#: A reconnect attempt, once the port is back, gives the device this long to answer.
RECONNECT_S = 3.0


class SerialDriver(SlotsOnDevice):
    kind = "serial"
    token: str | None = None
    streams_telemetry = True
    #: How often an unplugged device's port is looked for (a connected link reports
    #: its own loss at once: ``link_lost``).
    watch_every_s = 0.2
    watch_while_up = False

    @staticmethod
    def open_device(
        ref: TargetRef,
        *,
        token: str | None = None,
        token_file: Path | str | None = None,
        timeout_s: float = 10.0,
        probe: bool = True,
    ) -> SerialTarget:
        """A bare connected ``SerialTarget`` on its own loop (``devices.driver.open_device``)."""
        from edgeconsole.devices.serial.client import SerialTarget

        assert ref.address is not None
        # The parsed address, not the canonical URL: it keeps a ?usb= id for re-finding.
        t = SerialTarget(ref.address, timeout_s=timeout_s)
        try:
            t.connect(probe=probe)
        except BaseException:
            t.close()
            raise
        return t

    def __init__(self, ref: TargetRef, io: LoopThread, hooks: DriverHooks) -> None:
        assert ref.address is not None
        self.url = ref.url
        self.address = ref.address
        self._io = io
        self._hooks = hooks
        self._lost = threading.Event()
        self._link: SerialTarget | None = None
        self._device: SerialTarget | StockTarget | None = None

    # -- what answered -----------------------------------------------------------------
    @property
    def device(self) -> SerialTarget | StockTarget:
        if self._device is None:
            raise DeviceError("not connected", subject=self.url, hint="connect the device first")
        return self._device

    @property
    def stock(self) -> StockTarget | None:
        """The stock MCUmgr device on this link, if that is what answered."""
        from edgeconsole.devices.serial.stock import StockTarget

        device = self._device
        return device if isinstance(device, StockTarget) else None

    @property
    def has_slots(self) -> bool:
        return self._device is not None and self._device.smp

    @property
    def disconnects(self) -> int:
        return len(self._link.disconnects) if self._link is not None else 0

    # -- connecting --------------------------------------------------------------------
    def connect(self) -> Reading:
        from edgeconsole.devices.serial.client import SerialTarget
        from edgeconsole.devices.serial.stock import adopt

        link = SerialTarget(self.address, timeout_s=TIMEOUT_S, loop=self._io)
        link.on_disconnect = self._on_lost
        link.text_tap = self._hooks.on_text
        try:
            link.connect(probe=True)
            # The driver for what answered: EdgeConsole firmware, or stock MCUmgr.
            device = adopt(link)
            slots = tuple(device.slots()) if device.smp else ()
            info = device.info()
        except BaseException:
            link.close()
            raise
        self._link, self._device = link, device
        self._lost.clear()
        return Reading(info, slots)

    def _on_lost(self, why: str) -> None:
        self._lost.set()
        if self._hooks.on_lost is not None:
            self._hooks.on_lost(why)

    def read(self) -> Reading:
        device = self.device
        return Reading(device.info(), tuple(device.slots()) if device.smp else ())

    def watch(self) -> Reading | None:
        return None  # the transport reports a lost link itself (link_lost)

    def link_lost(self) -> str | None:
        link = self._link
        if link is None or not self._lost.is_set():
            return None
        if link.transport.connected:
            self._lost.clear()  # a job's own resume reconnected it
            return None
        return link.disconnects[-1] if link.disconnects else "link lost"

    def back(self) -> bool:
        from edgeconsole.devices.serial.ports import refind

        return refind(self.address) is not None

    def reconnect(self) -> Reading:
        device = self.device
        info = device.reconnect(timeout_s=RECONNECT_S) or device.info()
        slots = tuple(device.slots()) if device.smp else ()
        self._lost.clear()
        return Reading(info, slots)

    # -- jobs --------------------------------------------------------------------------
    def refuse(self, job: str) -> None:
        if job == "flash" and self.stock is not None:
            raise DeviceError(
                "a stock Zephyr/MCUboot device takes firmware images, not bundles",
                subject=self.url,
                hint="upload an MCUboot image (Firmware), or place the bundle's model in its "
                "file system (Files)",
            )

    def flash_job(
        self,
        payload: Payload,
        *,
        mode: Literal["trial", "confirm"],
        progress: ProgressFn,
        cancel: threading.Event,
    ) -> FlashJobBase:
        from edgeconsole.devices.serial.client import SerialTarget

        device = self.device
        assert isinstance(device, SerialTarget)  # refuse("flash") turned a stock one away
        return device.flash_job(payload, mode=mode, progress=progress, cancel=cancel)

    # -- telemetry and closing ---------------------------------------------------------
    def drain(self) -> list[tuple[int, bytes]]:
        link = self._link
        return list(link.text.drain()) if link is not None else []

    def close(self) -> None:
        link = self._link
        if link is not None:
            link.close()
