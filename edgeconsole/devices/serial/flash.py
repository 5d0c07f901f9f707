"""Safe flashing of a serial device: upload with resume, hash check, trial, health, confirm.

The job never touches the running bundle: the device writes only its inactive
slot. A cut cable, a reboot or a corrupted frame costs a retry, not the
device: the upload restarts with the same ``sha`` and the device answers with
the offset it already holds (or 0 after a reboot). After the upload the device
hashes the slot itself (``match``); then the bundle goes on trial, runs its
golden self-test, and is confirmed, or rolled back automatically.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Literal

from smpclient.exceptions import SMPUploadError
from smpclient.generics import error

from edgeconsole.core.errors import DeviceDisconnected, DeviceError
from edgeconsole.devices.serial import smp_errors
from edgeconsole.devices.serial.pipeline import Resync
from edgeconsole.devices.target import (
    FlashJobBase,
    FlashProgress,
    Payload,
    ProgressFn,
    SelfTest,
    SlotInfo,
)

if TYPE_CHECKING:
    from edgeconsole.devices.loop import LoopThread
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


class UploadRetries:
    """The retry loop of every SMP upload (a bundle into group 65's inactive slot, a
    firmware image into MCUboot's slot 1): a cut cable or a reboot reconnects, a lost or
    corrupted frame asks again, a pipeline that lost step asks where the device is; each
    is a resume, because the device answers with the offset it already holds (0 after a
    reboot). A hash the device disagrees with sends it all again, once. Whatever the
    device refuses is said by ``refused``, never retried."""

    def __init__(
        self,
        subject: str,
        *,
        reconnect: Callable[[], object],
        refused: Callable[[SMPUploadError], DeviceError],
    ) -> None:
        self.subject = subject
        self.reconnect = reconnect
        self.refused = refused
        self.resumes = 0

    def run(self, io: LoopThread, one_pass: Callable[[], Coroutine[Any, Any, None]]) -> None:
        mismatches = 0
        for _attempt in range(MAX_RETRIES):
            try:
                io.run(one_pass())
                return
            except DeviceDisconnected:
                self.resumes += 1
                self.reconnect()
            except TimeoutError:
                self.resumes += 1  # a lost or corrupted frame: the device knows the offset
            except Resync as stop:
                if stop.answer is not None and error(stop.answer):
                    raise self.refused(SMPUploadError(stop.answer)) from None
                self.resumes += 1  # the device holds another offset: ask it, go on from there
            except SMPUploadError as exc:
                if "mismatched SHA256" in str(exc) and mismatches == 0:
                    mismatches += 1  # the device's hash disagreed: send it all again, once
                    self.resumes += 1
                    continue
                raise self.refused(exc) from None
        raise DeviceError(
            f"upload did not finish after {MAX_RETRIES} retries",
            subject=self.subject,
            hint="the link is too unreliable; check the cable and baud rate",
        )


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
    timeout = chunk_timeout_s or target.timeout_s
    subject = target.address.path
    retries = UploadRetries(
        subject,
        reconnect=lambda: target.reconnect(reconnect_timeout_s),
        refused=lambda exc: smp_errors.device_error(
            exc.args[0] if exc.args else exc, action="upload", subject=subject
        ),
    )

    async def one_pass() -> None:
        async for off in target.client.upload(
            payload.data, first_timeout_s=2 * timeout, subsequent_timeout_s=timeout
        ):
            if progress is not None:
                rate = meter.add(off)
                eta = (total - off) / rate if rate > 0 else None
                progress(FlashProgress(off, total, rate, eta, retries.resumes))

    retries.run(target.io, one_pass)
    if progress is not None:
        progress(FlashProgress(total, total, meter.add(total), 0.0, retries.resumes, "verify"))
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


class SerialFlashJob(FlashJobBase):
    """Upload, verify, trial, health check, then confirm (or roll back).

    Safe to run again after anything: a trial left by an interrupted flash (the
    laptop or the device died between activate and confirm) is finished when it
    holds this bundle, or rolled back to the confirmed bundle when it holds
    another; a device that reboots or drops off during the trial is reconnected
    and the trial picks up from the state the device reports.
    """

    #: Reconnects / lost answers tolerated between upload and confirm.
    MAX_RECOVERIES = 6
    RECONNECT_S = 15.0

    def __init__(
        self,
        target: SerialTarget,
        payload: Payload,
        *,
        mode: Literal["trial", "confirm"] = "confirm",
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        super().__init__(payload, mode=mode, progress=progress, cancel=cancel)
        self.target = target

    def prepare(self) -> int | None:
        self.target.require_smp()
        return self._leftovers(_read_slots(self.target, self.RECONNECT_S))

    def upload(self) -> int:
        return upload_with_resume(
            self.target, self.payload, self._count, reconnect_timeout_s=self.RECONNECT_S
        )

    def finish(self, slot: int) -> tuple[SelfTest | None, list[SlotInfo], bool]:
        test, slots = self._finish(slot)
        return test, slots, self.mode == "confirm"

    def _name(self, s: SlotInfo | None = None) -> str:
        if s is None:
            return f"{self.payload.bundle_id} v{self.payload.version}"
        return f"{s.bundle_id or 'an unnamed bundle'} v{s.version}"

    def _leftovers(self, slots: list[SlotInfo]) -> int | None:
        """Deal with what an interrupted flash left; the slot to resume, or None to upload."""
        trial = next((s for s in slots if s.state == "trial"), None)
        if trial is not None and trial.sha256 == self.payload.sha256:
            self.notes.append(
                f"slot {trial.index} already held {self._name()} on trial (an earlier flash "
                "was interrupted): finished that trial instead of uploading again"
            )
            return trial.index
        if trial is not None:
            # Never confirmed, and it blocks the only slot an upload may write. Rolling
            # back is the safe direction: the confirmed bundle runs again.
            self._report("rollback")
            self._recovering(
                lambda: self.target.rollback(), done=lambda ss: ss[trial.index].state != "trial"
            )
            self.notes.append(
                f"slot {trial.index} held {self._name(trial)} on trial, never confirmed (an "
                "earlier flash was interrupted): rolled it back to the confirmed bundle "
                "before uploading"
            )
            return None
        staged = next(
            (s for s in slots if s.state == "staged" and s.sha256 == self.payload.sha256), None
        )
        if staged is not None and not staged.running and not staged.confirmed:
            self.notes.append(
                f"slot {staged.index} already held this bundle, uploaded and verified by the "
                "device: skipped the upload"
            )
            return staged.index
        return None

    def _recovering(self, op: Callable[[], object], done: Callable[[list[SlotInfo]], bool]) -> None:
        """Run a state change that is not safe to repeat blindly (rollback): after a lost
        answer or a reconnect, read the slots and repeat only if it did not happen."""
        for _ in range(self.MAX_RECOVERIES):
            try:
                op()
                return
            except (DeviceDisconnected, smp_errors.NoAnswer) as exc:
                self._recover(exc)
                if done(_read_slots(self.target, self.RECONNECT_S)):
                    return
        raise self._gave_up()

    def _recover(self, exc: DeviceError) -> None:
        self.resumes += 1
        if isinstance(exc, DeviceDisconnected):
            self.target.reconnect(self.RECONNECT_S)

    def _gave_up(self) -> DeviceError:
        return DeviceError(
            f"lost the device {self.MAX_RECOVERIES} times while finishing the trial of "
            f"{self._name()}",
            subject=self.target.address.path,
            hint="check the cable and power; run the same flash again to finish the trial "
            "(it resumes), or `edgeconsole rollback`",
        )

    def _finish(self, slot: int) -> tuple[SelfTest, list[SlotInfo]]:
        """Trial, health check and (mode confirm) confirm, driven by the device's own slot
        state so every step is repeated or skipped correctly after a reboot or lost answer."""
        test: SelfTest | None = None
        recoveries = 0
        activated = False
        while True:
            try:
                slots = _read_slots(self.target, self.RECONNECT_S)
                rec = next((s for s in slots if s.index == slot), None)
                state = rec.state if rec is not None else "missing"
                if state == "staged" and not activated:
                    self._report("trial")
                    self.target.activate(slot, self.payload)
                    activated = True
                elif state == "trial":
                    if test is None:
                        self._report("selftest")
                        test = self.target.self_test(slot)
                        if not test.passed:
                            self._failed(test)
                    elif self.mode == "trial":
                        return test, slots
                    else:
                        self._report("confirm")
                        self.target.confirm(slot)
                elif state == "confirmed" and rec is not None and rec.confirmed:
                    if test is None:
                        # Confirmed before a lost answer or reboot: check it still runs.
                        self._report("selftest")
                        test = self.target.self_test(slot)
                        if not test.passed:
                            raise DeviceError(
                                f"{self._name()} is confirmed in slot {slot} but fails its "
                                f"health check now ({test.detail})",
                                subject=self.target.address.path,
                                hint="`edgeconsole rollback` returns to the previous bundle",
                            )
                    if self.mode == "trial":
                        self.notes.append(f"slot {slot} was already confirmed")
                    return test, slots
                else:
                    raise self._ended(slot, rec, activated)
            except (DeviceDisconnected, smp_errors.NoAnswer) as exc:
                recoveries += 1
                if recoveries > self.MAX_RECOVERIES:
                    raise self._gave_up() from None
                if isinstance(exc, DeviceDisconnected):
                    # A reboot on trial spends one of its attempts; the health check runs
                    # again on the model the device loaded after it.
                    test = None
                    self.notes.append(
                        f"the device dropped off during the trial ({exc.what}); reconnected "
                        "and resumed"
                    )
                self._recover(exc)

    def _failed(self, test: SelfTest) -> None:
        if not test.rolled_back:
            self._report("rollback")
            self._recovering(
                lambda: self.target.rollback(),
                done=lambda ss: all(s.state != "trial" for s in ss),
            )
        raise DeviceError(
            f"bundle {self._name()} failed its health check on the device ({test.detail}); "
            "rolled back to the confirmed bundle",
            subject=self.target.address.path,
            hint="check the bundle's golden data and preprocessing; the device is unchanged",
        )

    def _ended(self, slot: int, rec: SlotInfo | None, activated: bool) -> DeviceError:
        if rec is None:
            return DeviceError(
                f"the device no longer has slot {slot}",
                subject=self.target.address.path,
                hint="read the slots: `edgeconsole slots`",
            )
        if rec.state == "bad":
            return DeviceError(
                f"the device ended the trial of {self._name()} in slot {slot} and marked it "
                "bad (it rebooted on trial more often than its attempts allow, or its bytes "
                "no longer match); the confirmed bundle runs",
                subject=self.target.address.path,
                hint="check the device log, then flash again",
            )
        return DeviceError(
            f"slot {slot} is {rec.state}"
            + (" after activation" if activated else "")
            + f", not on trial with {self._name()}",
            subject=self.target.address.path,
            hint="read the slots (`edgeconsole slots`) and flash again",
        )
