"""Safe flashing of a serial device: upload with resume, hash check, trial, health, confirm.

The job never touches the running bundle: the device writes only its inactive
slot. A cut cable, a reboot or a corrupted frame costs a retry, not the
device: the upload restarts with the same ``sha`` and the device answers with
the offset it already holds (or 0 after a reboot). After the upload the device
hashes the slot itself (``match``); then the bundle goes on trial, runs its
golden self-test, and is confirmed, or rolled back automatically.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from smpclient.exceptions import SMPUploadError

from edgeconsole.core.errors import DeviceDisconnected, DeviceError
from edgeconsole.devices.target import (
    FlashJobBase,
    FlashProgress,
    Payload,
    ProgressFn,
    SelfTest,
    SlotInfo,
)

if TYPE_CHECKING:
    from edgeconsole.devices.serial.client import SerialTarget

MAX_RETRIES = 50


class RateMeter:
    """Bytes per second over the last few seconds, for KB/s and ETA."""

    def __init__(self, window_s: float = 3.0) -> None:
        self.window_s = window_s
        self._points: deque[tuple[float, int]] = deque()

    def add(self, sent: int) -> float:
        now = time.perf_counter()
        self._points.append((now, sent))
        while len(self._points) > 2 and now - self._points[0][0] > self.window_s:
            self._points.popleft()
        t0, s0 = self._points[0]
        return (sent - s0) / (now - t0) if now > t0 and sent > s0 else 0.0


def upload_with_resume(
    target: SerialTarget,
    payload: Payload,
    progress: ProgressFn | None = None,
    *,
    chunk_timeout_s: float | None = None,
    reconnect_timeout_s: float = 15.0,
) -> int:
    """Upload ``payload`` into the device's inactive slot; returns the slot index."""
    target.require_smp()
    total = len(payload.data)
    meter = RateMeter()
    resumes = 0
    mismatches = 0
    last = 0
    timeout = chunk_timeout_s or target.timeout_s

    async def one_pass() -> None:
        nonlocal last
        async for off in target.client.upload(
            payload.data, first_timeout_s=2 * timeout, subsequent_timeout_s=timeout
        ):
            last = off
            if progress is not None:
                rate = meter.add(off)
                eta = (total - off) / rate if rate > 0 else None
                progress(FlashProgress(off, total, rate, eta, resumes))

    for _attempt in range(MAX_RETRIES):
        try:
            target.io.run(one_pass())
            break
        except DeviceDisconnected:
            resumes += 1
            target.reconnect(reconnect_timeout_s)
        except TimeoutError:
            resumes += 1  # a lost or corrupted frame: ask again, the device knows the offset
        except SMPUploadError as exc:
            if "mismatched SHA256" in str(exc) and mismatches == 0:
                mismatches += 1  # the device's hash disagreed: send it all again once
                resumes += 1
                continue
            raise DeviceError(
                f"upload refused: {exc}", subject=target.address.path, hint="see the device log"
            ) from None
    else:
        raise DeviceError(
            f"upload did not finish after {MAX_RETRIES} retries",
            subject=target.address.path,
            hint="the link is too unreliable; check the cable and baud rate",
        )
    if progress is not None:
        progress(FlashProgress(total, total, meter.add(total), 0.0, resumes, "verify"))
    for s in _read_slots(target, reconnect_timeout_s):
        if s.sha256 == payload.sha256 and s.state == "staged":
            return s.index
    raise DeviceError(
        "upload finished but no slot holds the bundle's hash",
        subject=target.address.path,
        hint="flash again",
    )


def _read_slots(target: SerialTarget, reconnect_timeout_s: float, tries: int = 3) -> list[SlotInfo]:
    """Read the slot table, asking again after a lost or corrupted answer: a read is safe
    to repeat, and one bad frame on a noisy link must not fail a finished upload."""
    for attempt in range(tries):
        try:
            return list(target.slots())
        except DeviceDisconnected:
            if attempt == tries - 1:
                raise
            target.reconnect(reconnect_timeout_s)
        except DeviceError:
            if attempt == tries - 1:
                raise
    raise AssertionError("unreachable")


@dataclass
class FlashResult:
    slot: int
    confirmed: bool
    self_test: SelfTest | None
    slots: list[SlotInfo]
    seconds: float
    bytes_per_s: float
    resumes: int = 0
    notes: list[str] = field(default_factory=list)


class SerialFlashJob(FlashJobBase):
    """Upload, verify, trial, health check, then confirm (or roll back)."""

    def __init__(
        self,
        target: SerialTarget,
        payload: Payload,
        *,
        mode: Literal["trial", "confirm"] = "confirm",
        progress: ProgressFn | None = None,
    ) -> None:
        super().__init__(payload, mode=mode, progress=progress)
        self.target = target

    def run(self) -> FlashResult:
        t0 = time.perf_counter()
        slot = upload_with_resume(self.target, self.payload, self._count)
        seconds_upload = time.perf_counter() - t0
        self._report("trial")
        self.target.activate(slot, self.payload)
        self._report("selftest")
        test = self.target.self_test(slot)
        if not test.passed:
            if not test.rolled_back:
                self._report("rollback")
                self.target.rollback()
            raise DeviceError(
                f"bundle {self.payload.bundle_id} v{self.payload.version} failed its health "
                f"check on the device ({test.detail}); rolled back to the confirmed bundle",
                subject=self.target.address.path,
                hint="check the bundle's golden data and preprocessing; the device is unchanged",
            )
        confirmed = False
        if self.mode == "confirm":
            self._report("confirm")
            self.target.confirm(slot)
            confirmed = True
        slots = self.target.slots()
        self._report("done")
        return FlashResult(
            slot,
            confirmed,
            test,
            slots,
            time.perf_counter() - t0,
            len(self.payload.data) / seconds_upload if seconds_upload > 0 else 0.0,
            self.resumes,
        )
