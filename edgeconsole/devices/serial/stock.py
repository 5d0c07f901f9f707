"""``StockTarget``: a stock Zephyr/MCUboot device (standard MCUmgr groups only) as a Target.

Most serial devices in the field run stock Zephyr with MCUmgr and MCUboot, not
EdgeConsole's group 65. This driver manages them with the standard groups:
OS (info, bootloader, reset), image (MCUboot slots, upload, test, confirm,
erase), file system, statistics, shell and enumeration. The link underneath
is the same :class:`~edgeconsole.devices.serial.client.SerialTarget` (one
transport, one I/O loop, reconnect, the log/telemetry text); this class adds
what a stock device can do, asked of the device (``caps.py``).

In the :class:`~edgeconsole.devices.target.Target` protocol, MCUboot's slots
are the target's slots: slot 0 runs; an upload lands in slot 1; *activate*
is test + reset + wait for the device; *self-test* checks that the device
booted the tested image; *confirm* makes it permanent; *rollback* resets an
unconfirmed image so MCUboot reverts it. The full flow with its checks is
``firmware.FirmwareUpgradeJob``; files are ``fs.py``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Literal

from smpclient.exceptions import SMPBadSequence, SMPValidationException
from smpclient.generics import error, success
from smpclient.requests.enumeration_management import GroupDetails, ListSupportedGroups
from smpclient.requests.file_management import FileStatus, SupportedFileHashChecksumTypes
from smpclient.requests.image_management import ImageErase, ImageStatesRead, ImageStatesWrite
from smpclient.requests.os_management import (
    BootloaderInformationRead,
    OSApplicationInfoRead,
    ResetWrite,
)
from smpclient.requests.shell_management import Execute
from smpclient.requests.statistics_management import GroupData, ListOfGroups

from edgeconsole.core.errors import DeviceDisconnected, DeviceError
from edgeconsole.devices.serial import smp_errors
from edgeconsole.devices.serial.caps import FS, IMG, OS, SHELL, STAT, Capabilities, features
from edgeconsole.devices.serial.client import SerialTarget
from edgeconsole.devices.serial.images import ImageSlot, images_of, slot_info
from edgeconsole.devices.serial.mcumgr import BootloaderModeRead
from edgeconsole.devices.target import (
    FlashJobBase,
    Payload,
    ProgressFn,
    SelfTest,
    SlotInfo,
    TargetInfo,
)

#: How long a capability probe waits: a group that is there answers at once.
PROBE_TIMEOUT_S = 1.5
MGMT_ENOTSUP = 8


class StockTarget:
    """A stock MCUmgr device on a serial link. Build it with :func:`adopt`."""

    kind = "stock"

    def __init__(self, link: SerialTarget) -> None:
        self.link = link
        self.url = link.url
        self.address = link.address
        self.caps: Capabilities | None = None
        self._info: TargetInfo | None = None

    # -- the link underneath (what the session's pump and reconnect use) ---------------
    @property
    def io(self) -> Any:
        return self.link.io

    @property
    def client(self) -> Any:
        return self.link.client

    @property
    def transport(self) -> Any:
        return self.link.transport

    @property
    def text(self) -> Any:
        return self.link.text

    @property
    def disconnects(self) -> list[str]:
        return self.link.disconnects

    @property
    def smp(self) -> bool:
        return self.link.smp

    @property
    def timeout_s(self) -> float:
        return self.link.timeout_s

    @property
    def on_disconnect(self) -> Callable[[str], None] | None:
        return self.link.on_disconnect

    @on_disconnect.setter
    def on_disconnect(self, fn: Callable[[str], None] | None) -> None:
        self.link.on_disconnect = fn

    def require_smp(self) -> None:
        self.link.require_smp()

    def reconnect(self, timeout_s: float = 10.0) -> TargetInfo | None:
        self.link.reconnect(timeout_s)
        self._info = None
        return self.info()

    def close(self) -> None:
        self.link.close()

    def __enter__(self) -> StockTarget:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- exchanges ---------------------------------------------------------------------
    def ask(self, req: Any, timeout_s: float | None = None) -> Any:
        """The device's answer to ``req``, success or error (DeviceError when silent)."""
        t = timeout_s or self.link.timeout_s
        action = smp_errors.action_of(req)
        try:
            return self.link.io.run(self.link.client.request(req, t))
        except TimeoutError:
            raise smp_errors.NoAnswer(
                f"no answer to {action} within {t:.1f} s",
                subject=self.address.path,
                hint="check the cable, or whether the device is busy (a shell command "
                "still running blocks its SMP server)",
            ) from None
        except (SMPBadSequence, SMPValidationException) as exc:
            raise DeviceError(
                f"{action} failed: the device's answer was not a valid answer to it",
                subject=self.address.path,
                hint=f"check that the device runs the firmware you expect ({type(exc).__name__})",
            ) from None

    def request(self, req: Any, timeout_s: float | None = None) -> Any:
        """A successful answer, or the link's sentence for the error."""
        return self.link.request(req, timeout_s)

    def refused(self, action: str, answer: Any) -> DeviceError:
        """The sentence for an error answer already received (never sent again)."""
        return smp_errors.device_error(answer, action=action, subject=self.address.path)

    # -- identity and capabilities -------------------------------------------------------
    def info(self) -> TargetInfo:
        if self._info is None:
            caps = self.capabilities()
            running = next((s for s in self._safe_images() if s.active), None)
            self._info = TargetInfo(
                self.url,
                f"{caps.board or 'Zephyr device'} (stock MCUmgr)",
                serial="",
                hw_id=caps.board,
                firmware=running.version if running else "",
                buf_size=caps.buf_size,
                extra={"profile": "stock", "capabilities": caps.to_json()},
            )
        return self._info

    def _safe_images(self) -> list[ImageSlot]:
        try:
            return self.images() if self.caps is not None and IMG in self.caps.groups else []
        except DeviceError:
            return []

    def capabilities(self, refresh: bool = False) -> Capabilities:
        if self.caps is None or refresh:
            self.caps = self._discover()
        return self.caps

    def _patient(self, req: Any) -> Any:
        """The answer to a discovery request, or None when the device stays silent. A
        feature that is there answers at once; one lost frame or a busy moment must not
        take it away, so silence is asked again once with the link's full patience."""
        for wait in (PROBE_TIMEOUT_S, max(PROBE_TIMEOUT_S, self.link.timeout_s)):
            try:
                return self.ask(req, wait)
            except DeviceDisconnected:
                raise
            except DeviceError:
                continue
        return None

    def _probe(self, req: Any) -> str:
        """Is the group there: "yes" (an answer, or a group's own error), "no" (ENOTSUP),
        or "silent"."""
        answer = self._patient(req)
        if answer is None:
            return "silent"
        if success(answer):
            return "yes"
        code = smp_errors.code_of(answer)
        if code is not None and code.group is None and code.rc == MGMT_ENOTSUP:
            return "no"
        return "yes"

    def _discover(self) -> Capabilities:
        groups: set[int] = {OS}
        silent: list[int] = []
        source = "probing"
        answer = self._patient(ListSupportedGroups())
        if answer is not None and success(answer):
            groups |= {int(g) for g in answer.groups}
            source = "enumeration"
        if source == "probing":
            probes = {
                IMG: ImageStatesRead(),
                STAT: ListOfGroups(),
                FS: FileStatus(name="/"),
                SHELL: Execute(argv=[]),
            }
            for group, req in probes.items():
                verdict = self._probe(req)
                if verdict == "yes":
                    groups.add(group)
                elif verdict == "silent":
                    silent.append(group)
        hash_types: tuple[str, ...] = ()
        if FS in groups:
            answer = self._patient(SupportedFileHashChecksumTypes())
            if answer is not None and success(answer):
                hash_types = tuple(sorted(str(k) for k in answer.types))
        os_info = self._text(OSApplicationInfoRead(format="a"), "output")
        board = self._text(OSApplicationInfoRead(format="i"), "output")
        bootloader = self._text(BootloaderInformationRead(), "bootloader")
        mode: int | None = None
        no_downgrade: bool | None = None
        if bootloader:
            answer = self._patient(BootloaderModeRead(query="mode"))
            if answer is not None and success(answer) and answer.mode is not None:
                mode = int(answer.mode)
                no_downgrade = bool(BootloaderModeRead.no_downgrade(answer))
        found = Capabilities(
            groups=tuple(sorted(groups)),
            source=source,
            buf_size=self.link.transport.mtu,
            os_info=os_info,
            board=board,
            bootloader=bootloader,
            mode=mode,
            no_downgrade=no_downgrade,
            hash_types=hash_types,
            silent=tuple(silent),
        )
        return Capabilities(**{**found.__dict__, "items": features(found)})

    def _text(self, req: Any, key: str) -> str:
        answer = self._patient(req)
        if answer is None or not success(answer):
            return ""
        return str(getattr(answer, key, "") or "")

    def group_names(self) -> dict[int, str]:
        """The firmware's own names for its groups (enumeration details), when it has them."""
        try:
            answer = self.ask(GroupDetails(), PROBE_TIMEOUT_S)
        except DeviceError:
            return {}
        if not success(answer):
            return {}
        return {int(d.group): str(d.name or "") for d in answer.groups}

    def require(self, key: str) -> None:
        caps = self.capabilities()
        if not caps.has(key):
            cap = caps.get(key)
            label = cap.label if cap else key
            raise DeviceError(
                f"{label}: {caps.why_not(key)}",
                subject=self.address.path,
                hint="this device's firmware cannot do it; other features still work",
            )

    # -- images ------------------------------------------------------------------------
    def images(self) -> list[ImageSlot]:
        return images_of(self.request(ImageStatesRead()))

    def test_image(self, image_hash: str, *, permanent: bool = False) -> list[ImageSlot]:
        """Mark slot 1's image for the next boot: on test (reverts unless confirmed) or,
        only when the person chose it, permanently."""
        digest = bytes.fromhex(image_hash)
        return images_of(self.request(ImageStatesWrite(hash=digest, confirm=permanent)))

    def confirm_running(self) -> list[ImageSlot]:
        return images_of(self.request(ImageStatesWrite(confirm=True)))

    def erase_spare(self) -> None:
        """Erase slot 1, refused (with why) while it is pending or the revert fallback."""
        for s in self.images():
            if s.slot == 1 and s.pending:
                raise DeviceError(
                    f"slot 1 ({s.version}) is marked for the next boot: erasing it is refused",
                    subject=self.address.path,
                    hint="reset the device to run it on test, then confirm or let it revert",
                )
            if s.slot == 1 and s.confirmed:
                raise DeviceError(
                    f"slot 1 holds {s.version}, the confirmed image MCUboot reverts to: "
                    "erasing it would leave nothing to go back to",
                    subject=self.address.path,
                    hint="confirm the running image first (then slot 1 is spare)",
                )
        self.request(ImageErase(slot=1))

    def reset(self) -> None:
        """Ask the device to reset. The link dropping before the answer arrived is the
        reset happening (Zephyr resets 250 ms after answering; some sooner)."""
        try:
            self.request(ResetWrite())
        except DeviceDisconnected:
            pass

    def wait_back(self, timeout_s: float) -> list[ImageSlot]:
        """After a reset: wait for the device to come back and answer again."""
        self.link.reconnect(timeout_s)
        self._info = None
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                return self.images()
            except DeviceDisconnected:
                raise
            except DeviceError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)  # still booting: it answers once its SMP server runs

    # -- the Target protocol -----------------------------------------------------------
    def slots(self) -> list[SlotInfo]:
        return [slot_info(s) for s in self.images()]

    def upload(self, payload: Payload, progress: ProgressFn | None = None) -> int:
        from edgeconsole.devices.serial.firmware import upload_image

        upload_image(self, payload.data, progress)
        return 1

    def activate(self, slot: int, payload: Payload | None = None) -> list[SlotInfo]:
        spare = next((s for s in self.images() if s.slot == slot), None)
        if spare is None or slot != 1:
            raise DeviceError(f"no image in slot {slot} to test", subject=self.address.path)
        self.test_image(spare.hash)
        self.reset()
        return [slot_info(s) for s in self.wait_back(30.0)]

    def self_test(self, slot: int | None = None) -> SelfTest:
        images = self.images()
        running = next((s for s in images if s.active), None)
        if running is None:
            return SelfTest(0, False, "the device reports no running image")
        if running.confirmed:
            return SelfTest(running.slot, False, f"{running.version} runs, nothing on test")
        return SelfTest(running.slot, True, f"booted {running.version} on test")

    def confirm(self, slot: int | None = None) -> list[SlotInfo]:
        return [slot_info(s) for s in self.confirm_running()]

    def flash_job(
        self,
        payload: Payload,
        *,
        mode: Literal["trial", "confirm"] = "confirm",
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
    ) -> FlashJobBase:
        """A stock device holds MCUboot images, not bundles: refused in words."""
        raise DeviceError(
            "a stock Zephyr/MCUmgr device has MCUboot images, not bundle slots",
            subject=self.address.path,
            hint="use `edgeconsole image upload|test|confirm`",
        )

    def rollback(self) -> list[SlotInfo]:
        images = self.images()
        running = next((s for s in images if s.active), None)
        if running is not None and running.confirmed:
            raise DeviceError(
                f"{running.version} is confirmed: MCUboot has nothing to revert",
                subject=self.address.path,
                hint="upload the previous image and test it instead",
            )
        self.reset()
        return [slot_info(s) for s in self.wait_back(30.0)]

    # -- statistics and shell ------------------------------------------------------------
    def stats(self) -> dict[str, dict[str, int]]:
        self.require("stats")
        names = list(self.request(ListOfGroups()).stat_list)
        out: dict[str, dict[str, int]] = {}
        for name in names[:64]:
            answer = self.ask(GroupData(name=name))
            if success(answer):
                out[name] = {str(k): int(v) for k, v in answer.fields.items()}
        return out

    def shell(self, argv: list[str], timeout_s: float = 10.0) -> tuple[str, int]:
        """Run one shell command on the device: (its output, its return code)."""
        self.require("shell")
        if not argv or any(not isinstance(a, str) or "\0" in a for a in argv):
            raise DeviceError("a shell command is one or more words", subject=self.url)
        try:
            answer = self.ask(Execute(argv=argv), timeout_s)
        except DeviceDisconnected:
            raise
        except DeviceError:
            raise DeviceError(
                f"`{' '.join(argv)}` did not return within {timeout_s:g} s",
                subject=self.address.path,
                hint="the device answers nothing else until it finishes; wait, or reset it "
                "(power-cycle if it does not answer the reset)",
            ) from None
        if error(answer):
            raise self.refused("shell command", answer)
        return str(answer.o), int(answer.ret)


def adopt(link: SerialTarget) -> SerialTarget | StockTarget:
    """The driver for a connected serial link: EdgeConsole firmware (group 65) stays a
    :class:`SerialTarget`; an SMP device without it is a :class:`StockTarget`."""
    if link.smp and not link.app_group:
        return StockTarget(link)
    return link
