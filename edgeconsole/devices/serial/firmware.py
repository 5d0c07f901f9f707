"""Firmware the MCUboot way: check the image, upload with resume, test, reset, wait,
check what booted, confirm, or say that MCUboot reverted.

Nothing here can leave a device without a confirmed bootable image: the
running image is never written (uploads go to slot 1), a new image is only
ever marked for *test* (MCUboot reverts it at the next reset unless it is
confirmed) unless the person explicitly chose *permanent*, and the confirm is
sent only after the device came back from the reset, answers SMP, and runs
exactly the image that was tested. Before any byte is sent the image is
checked the way ``imgtool verify`` and MCUboot do (``mcuboot.check_image``),
against the keys the person trusts, and refused with a sentence when it is
for another board, downgrades a device that prevents it, or is damaged.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from smpclient.exceptions import SMPUploadError
from smpclient.generics import error
from smpclient.requests.image_management import ImageUploadWrite

from edgeconsole.core.errors import DeviceDisconnected, DeviceError, ImageError
from edgeconsole.devices.serial import smp_errors
from edgeconsole.devices.serial.flash import RateMeter, UploadRetries
from edgeconsole.devices.serial.mcuboot import ImageCheck, TrustedKey, Version, check_image
from edgeconsole.devices.serial.pipeline import chunk, send_chunks, window_for
from edgeconsole.devices.target import (
    FlashJobBase,
    FlashProgress,
    FlashResult,
    Payload,
    ProgressFn,
    SelfTest,
    SlotInfo,
)

if TYPE_CHECKING:
    from edgeconsole.devices.serial.images import ImageSlot
    from edgeconsole.devices.serial.stock import StockTarget

IMG_NO_FREE_SLOT = 9


@dataclass(frozen=True)
class UploadResult:
    seconds: float
    bytes_per_s: float
    resumes: int


def upload_image(
    target: StockTarget,
    data: bytes,
    progress: ProgressFn | None = None,
    *,
    chunk_timeout_s: float | None = None,
    reconnect_timeout_s: float = 15.0,
) -> UploadResult:
    """Upload ``data`` into slot 1. A lost frame, a cut cable or a device reboot costs a
    retry: the upload starts again with the same ``sha`` and the device answers the
    offset it holds (0 after a reboot), as Zephyr's image manager does."""
    target.require("image.upload")
    total = len(data)
    meter = RateMeter()
    timeout = chunk_timeout_s or target.timeout_s
    t0 = time.perf_counter()

    sha = hashlib.sha256(data).digest()
    window = window_for(target.link.buf_count)
    retries = UploadRetries(
        target.address.path,
        reconnect=lambda: target.link.reconnect(reconnect_timeout_s),
        refused=lambda exc: _upload_refused(target, exc),
    )

    def report(off: int) -> None:
        if progress is not None:
            rate = meter.add(off)
            eta = (total - off) / rate if rate > 0 else None
            progress(FlashProgress(off, total, rate, eta, retries.resumes))

    async def one_pass() -> None:
        client = target.client
        # The first chunk carries len and sha, alone: the device answers where it is (the
        # end of what it already holds of this image, 0 for a new one).
        first = chunk(client, ImageUploadWrite, 0, data, image=0, len=total, sha=sha)
        answer = await client.request(first, max(2 * timeout, 5.0))
        if error(answer) or answer.off is None:
            raise SMPUploadError(answer)
        report(int(answer.off))
        if answer.off < total:
            answer = await send_chunks(
                client,
                target.transport,
                start=int(answer.off),
                total=total,
                make=lambda off: chunk(client, ImageUploadWrite, off, data),
                window=window,
                timeout_s=timeout,
                progress=report,
            )
        if getattr(answer, "match", None) is False:
            raise SMPUploadError("Upload failed, server reported mismatched SHA256")

    retries.run(target.io, one_pass)
    seconds = time.perf_counter() - t0
    return UploadResult(seconds, total / seconds if seconds > 0 else 0.0, retries.resumes)


def _upload_refused(target: StockTarget, exc: SMPUploadError) -> DeviceError:
    answer = exc.args[0] if exc.args else None
    code = smp_errors.code_of(answer)
    if code is not None and code.group == 1 and code.rc == IMG_NO_FREE_SLOT:
        return DeviceError(
            "upload refused: slot 1 holds an image marked for the next boot, or the "
            "confirmed image MCUboot would revert to",
            subject=target.address.path,
            hint="confirm or revert the image on test first (edgeconsole image list)",
        )
    return smp_errors.device_error(
        answer if code is not None else exc, action="upload", subject=target.address.path
    )


Mode = Literal["test", "confirm"]
Outcome = Literal["confirmed", "on-test", "permanent"]


@dataclass(kw_only=True)
class UpgradeResult(FlashResult):
    """The flash result with what MCUboot runs before and after."""

    outcome: Outcome
    previous: str  # version that ran before
    version: str  # version that runs now
    image_hash: str
    images: list[ImageSlot]
    check: ImageCheck

    @property
    def upload_bytes_per_s(self) -> float:
        return self.bytes_per_s

    def to_json(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "previous": self.previous,
            "version": self.version,
            "hash": self.image_hash,
            "images": [s.to_json() for s in self.images],
            "image": self.check.to_json(),
            "seconds": round(self.seconds, 3),
            "upload_bytes_per_s": round(self.upload_bytes_per_s, 1),
            "resumes": self.resumes,
            "notes": self.notes,
        }


@dataclass(frozen=True)
class ImagePolicy:
    """What the person allows: which keys they trust and what they knowingly accept."""

    keys: tuple[TrustedKey, ...] = ()
    allow_unsigned: bool = False
    allow_downgrade: bool = False
    vid: bytes | None = None  # the vendor / image class this device must get (imgtool --vid/--cid)
    cid: bytes | None = None


def check_for_device(
    target: StockTarget, data: bytes, policy: ImagePolicy, subject: str
) -> tuple[ImageCheck, ImageSlot | None]:
    """The image checked on its own (hash, signature) and against this device (version,
    board, slot state). Returns the check and the running image."""
    check = check_image(data, policy.keys, subject=subject, allow_unsigned=policy.allow_unsigned)
    facts = check.facts
    if not facts.bootable:
        raise ImageError(
            "the image is marked non-bootable (a split-image part): MCUboot will not run it",
            subject=subject,
        )
    if policy.vid is not None and facts.vid != policy.vid:
        raise ImageError(
            "the image is for another vendor: its vendor id does not match this device's",
            subject=subject,
            hint="pick the image built for this device",
        )
    if policy.cid is not None and facts.cid != policy.cid:
        raise ImageError(
            "the image is for another board: its image class id does not match this device's",
            subject=subject,
            hint="pick the image built for this board",
        )
    caps = target.capabilities()
    images = target.images()
    running = next((s for s in images if s.active), None)
    new_hash = facts.tlv_hash.hex()
    if running is not None:
        if running.hash == new_hash:
            raise ImageError(
                f"this image ({facts.version}) already runs on the device",
                subject=subject,
                hint="nothing to do",
            )
        try:
            current = Version.parse(running.version)
        except ValueError:
            current = None
        if current is not None and facts.version.key < current.key:
            if caps.no_downgrade:
                raise ImageError(
                    f"the image ({facts.version}) is older than the running {running.version}, "
                    "and MCUboot on this device prevents downgrades: it would erase it at boot",
                    subject=subject,
                    hint="pick a version not lower than the running one",
                )
            if not policy.allow_downgrade:
                raise ImageError(
                    f"the image ({facts.version}) is older than the running {running.version}",
                    subject=subject,
                    hint="a downgrade must be chosen explicitly (--allow-downgrade)",
                )
        if not running.confirmed:
            raise ImageError(
                f"the device runs {running.version} on test (not confirmed)",
                subject=target.url,
                hint="confirm it or reset to let MCUboot revert before another upgrade",
            )
    spare = next((s for s in images if s.slot == 1), None)
    if spare is not None and spare.pending:
        raise ImageError(
            f"slot 1 ({spare.version}) is already marked for the next boot",
            subject=target.url,
            hint="reset to run it on test, or erase it after it reverted",
        )
    return check, running


Phase = Literal[
    "check-image", "upload", "verify", "test", "reset", "wait", "check", "confirm", "done"
]


class FirmwareUpgradeJob(FlashJobBase):
    """check-image → upload → verify → test → reset → wait → check → confirm: the one
    flash flow (``FlashJobBase.run``) with MCUboot's steps."""

    def __init__(
        self,
        target: StockTarget,
        data: bytes,
        *,
        policy: ImagePolicy,
        mode: Mode = "confirm",
        permanent: bool = False,
        name: str = "image",
        progress: ProgressFn | None = None,
        reset_timeout_s: float = 60.0,
        reconnect_timeout_s: float = 15.0,
    ) -> None:
        payload = Payload(data, hashlib.sha256(data).hexdigest(), name, 0)
        super().__init__(payload, mode="trial" if mode == "test" else "confirm", progress=progress)
        self.target = target
        self.data = data
        self.policy = policy
        self.permanent = permanent
        self.name = name
        self.reset_timeout_s = reset_timeout_s
        self.reconnect_timeout_s = reconnect_timeout_s
        self._check: ImageCheck | None = None
        self._previous = ""
        self._images: list[ImageSlot] = []
        self._outcome: Outcome = "on-test"

    def run(self) -> UpgradeResult:
        r = super().run()
        assert self._check is not None
        now = next((s for s in self._images if s.active), None)
        return UpgradeResult(
            **r.__dict__,
            outcome=self._outcome,
            previous=self._previous,
            version=now.version if now else "",
            image_hash=self._check.facts.tlv_hash.hex(),
            images=self._images,
            check=self._check,
        )

    def prepare(self) -> int | None:
        """Check the image against this device; an image is always sent in full (MCUboot
        resumes by offset inside the upload, not across jobs)."""
        t = self.target
        self._report("check-image")
        check, running = check_for_device(t, self.data, self.policy, self.name)
        self._check = check
        self._previous = running.version if running else ""
        self.notes.extend(check.notes)
        caps = t.capabilities()
        if caps.can_revert is False:
            self.notes.append(f"MCUboot {caps.mode_name}: no revert after the reset")
        return None

    def upload(self) -> int:
        upload_image(
            self.target, self.data, self._count, reconnect_timeout_s=self.reconnect_timeout_s
        )
        return 1

    def finish(self, slot: int) -> tuple[SelfTest | None, list[SlotInfo], bool]:
        from edgeconsole.devices.serial.images import slot_info

        t = self.target
        check = self._check
        assert check is not None
        new_hash = check.facts.tlv_hash.hex()
        self._report("verify")
        spare = next((s for s in t.images() if s.slot == slot), None)
        if spare is None or spare.hash != new_hash:
            raise DeviceError(
                "upload finished but slot 1 does not hold the image's hash",
                subject=t.address.path,
                hint="upload again; if it persists, the device's flash may be failing",
            )
        self._report("test")
        t.test_image(new_hash, permanent=self.permanent)
        self._report("reset")
        try:
            t.reset()
        except DeviceDisconnected:
            pass  # it went down at once: that is the reset
        except DeviceError:
            pass  # the answer was lost as it reset; the wait below tells
        self._report("wait")
        images = self._wait(self._previous, check)
        self._report("check")
        now = next((s for s in images if s.active), None)
        if now is None or now.hash != new_hash:
            raise self._not_booted(images, self._previous, str(check.version))
        if now.confirmed:
            self._outcome = "permanent"
        elif self.mode == "confirm":
            self._report("confirm")
            images = t.confirm_running()
            now = next((s for s in images if s.active), None)
            if now is None or not now.confirmed or now.hash != new_hash:
                raise DeviceError(
                    "the device did not confirm the running image",
                    subject=t.address.path,
                    hint="read its slots; a reset now makes MCUboot revert",
                )
            self._outcome = "confirmed"
        self._images = images
        test = SelfTest(now.slot, True, f"booted {now.version}")
        return test, [slot_info(s) for s in images], now.confirmed

    def _wait(self, previous: str, check: ImageCheck) -> list[ImageSlot]:
        try:
            return self.target.wait_back(self.reset_timeout_s)
        except DeviceError as exc:
            back_to = previous or "the confirmed image"
            fate = (
                "MCUboot keeps the new image: it was installed permanently"
                if self.permanent
                else f"MCUboot has {check.version} on test: if it does not start, power-cycle "
                f"the device; without a confirm the next reset returns to {back_to}"
            )
            raise DeviceError(
                f"the device did not come back within {self.reset_timeout_s:g} s after the "
                f"reset ({exc.what}). {fate}",
                subject=self.target.address.path,
                hint="nothing is confirmed; reconnect when it is back and read its images",
            ) from None

    def _not_booted(self, images: list[ImageSlot], previous: str, version: str) -> DeviceError:
        spare = next((s for s in images if s.slot == 1), None)
        now = next((s for s in images if s.active), None)
        runs = now.version if now else "nothing"
        if spare is None:
            why = (
                f"MCUboot refused {version} at boot and erased it (its signature does not "
                "match this device's key, it is for another board, or downgrades are prevented)"
            )
        else:
            why = (
                f"{version} did not stay up: MCUboot reverted to the confirmed image "
                "(it crashed or reset before it was confirmed)"
            )
        return DeviceError(
            f"{why}; the device runs {runs}" + (" as before" if runs == previous else ""),
            subject=self.target.address.path,
            hint="the device is safe on its confirmed image; check the image and its logs",
        )
