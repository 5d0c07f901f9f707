"""What a person does to a stock Zephyr/MCUboot device, with its journal entries.

The command line and the window share these: each action runs the flow that
lives in ``devices.serial`` (firmware upgrade, file transfer, shell) and
writes what happened to the audit journal through ``audit`` (the CLI passes
the journal's, the window the target manager's). A failure is audited and
re-raised, never swallowed. Firmware keys come from ``<app data>/firmware-keys``
(``*.pem``, MCUboot public keys as ``imgtool getpub -e pem`` prints them) plus
any the person names; a bundle's model reaches a device file only through the
one door to bundle bytes (``workshop.access.open_verified``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeconsole.core.errors import ConfigError, DeviceError, EdgeConsoleError
from edgeconsole.devices.serial import fs
from edgeconsole.devices.serial.firmware import (
    FirmwareUpgradeJob,
    ImagePolicy,
    Mode,
    UpgradeResult,
    UploadResult,
    check_for_device,
    upload_image,
)
from edgeconsole.devices.serial.images import ImageSlot
from edgeconsole.devices.serial.mcuboot import (
    MAX_IMAGE_BYTES,
    ImageCheck,
    TrustedKey,
    class_uuid,
    load_keys,
    vendor_uuid,
)
from edgeconsole.devices.serial.stock import StockTarget
from edgeconsole.devices.target import ProgressFn
from edgeconsole.journal.paths import app_data_dir

#: (kind, level, message, fields) -> None: one audit journal entry.
AuditFn = Callable[..., None]
#: Shell output kept in one journal entry (the rest is counted, not dropped silently).
MAX_SHELL_AUDIT = 4000
MAX_LOCAL_FILE = 256 * 1024 * 1024


def firmware_keys_dir() -> Path:
    return app_data_dir() / "firmware-keys"


def trusted_keys(extra: Iterable[Path] = ()) -> list[TrustedKey]:
    """The firmware keys the person trusts: the app's folder plus the ones named."""
    paths = [firmware_keys_dir()] if firmware_keys_dir().is_dir() else []
    return load_keys([*paths, *extra])


def image_policy(
    keys: Iterable[Path] = (),
    *,
    allow_unsigned: bool = False,
    allow_downgrade: bool = False,
    vid: str | None = None,
    cid: str | None = None,
) -> ImagePolicy:
    return ImagePolicy(
        keys=tuple(trusted_keys(keys)),
        allow_unsigned=allow_unsigned,
        allow_downgrade=allow_downgrade,
        vid=vendor_uuid(vid) if vid else None,
        cid=class_uuid(cid, vid) if cid else None,
    )


def read_local(path: Path, limit: int = MAX_LOCAL_FILE) -> bytes:
    try:
        size = path.stat().st_size
        if size > limit:
            raise ConfigError(f"{size} B is too large for a device", subject=str(path))
        return path.read_bytes()
    except FileNotFoundError:
        raise ConfigError("no such file", subject=str(path)) from None
    except IsADirectoryError:
        raise ConfigError("is a folder, not a file", subject=str(path)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read it: {exc.strerror}", subject=str(path)) from None


@dataclass(frozen=True)
class Placement:
    """A bundle's model written to a device path, with the hashes before and after."""

    remote: str
    bundle: str
    model: str
    before: str  # the device's hash of the path before ("absent" when there was none)
    after: str
    transfer: fs.FileTransfer

    def to_json(self) -> dict[str, Any]:
        return {
            "remote": self.remote,
            "bundle": self.bundle,
            "model": self.model,
            "before": self.before,
            "after": self.after,
            "transfer": self.transfer.to_json(),
        }


class StockActions:
    def __init__(self, target: StockTarget, audit: AuditFn | None = None) -> None:
        self.target = target
        self._audit_fn = audit

    def _audit(self, kind: str, level: str, message: str, **fields: Any) -> None:
        if self._audit_fn is not None:
            self._audit_fn(kind, level, message, **fields)

    def _failed(self, kind: str, doing: str, exc: EdgeConsoleError, **fields: Any) -> None:
        self._audit(kind, "error", f"{doing} failed: {exc.what}", hint=exc.hint or "", **fields)

    # -- firmware ------------------------------------------------------------------------
    def upgrade(
        self,
        path: Path,
        policy: ImagePolicy,
        *,
        mode: Mode = "confirm",
        permanent: bool = False,
        progress: ProgressFn | None = None,
        reset_timeout_s: float = 60.0,
    ) -> UpgradeResult:
        data = read_local(path, MAX_IMAGE_BYTES)
        sha = hashlib.sha256(data).hexdigest()
        self._audit(
            "firmware",
            "warning" if permanent else "info",
            f"firmware upgrade started: {path.name} ({len(data)} B)"
            + (" PERMANENTLY, without a revert" if permanent else ""),
            file=str(path),
            sha256=sha,
            mode=mode,
            permanent=permanent,
        )
        job = FirmwareUpgradeJob(
            self.target,
            data,
            policy=policy,
            mode=mode,
            permanent=permanent,
            name=str(path),
            progress=progress,
            reset_timeout_s=reset_timeout_s,
        )
        try:
            result = job.run()
        except EdgeConsoleError as exc:
            self._failed("firmware", "firmware upgrade", exc, file=str(path), sha256=sha)
            raise
        signer = result.check.signed_by
        self._audit(
            "firmware",
            "info",
            f"firmware {result.version} runs ({result.outcome}); was {result.previous}",
            file=str(path),
            sha256=sha,
            image_hash=result.image_hash,
            signed_by=signer.label if signer else None,
            key_fingerprint=signer.fingerprint if signer else None,
            seconds=round(result.seconds, 3),
            bytes_per_s=round(result.upload_bytes_per_s, 1),
            resumes=result.resumes,
        )
        return result

    def upload(
        self, path: Path, policy: ImagePolicy, progress: ProgressFn | None = None
    ) -> tuple[ImageCheck, UploadResult]:
        """Check the image for this device and upload it into slot 1; nothing is tested."""
        data = read_local(path, MAX_IMAGE_BYTES)
        try:
            check, _running = check_for_device(self.target, data, policy, str(path))
            up = upload_image(self.target, data, progress)
        except EdgeConsoleError as exc:
            self._failed("firmware", "upload", exc, file=str(path))
            raise
        self._audit(
            "firmware",
            "info",
            f"firmware {check.version} uploaded into slot 1 (not tested)",
            file=str(path),
            image_hash=check.facts.tlv_hash.hex(),
            sha256=check.facts.file_sha256,
            resumes=up.resumes,
        )
        return check, up

    def confirm(self) -> list[ImageSlot]:
        t = self.target
        running = next((s for s in t.images() if s.active), None)
        if running is None:
            raise ConfigError("the device reports no running image", subject=t.url)
        if running.confirmed:
            return t.images()
        try:
            images = t.confirm_running()
        except EdgeConsoleError as exc:
            self._failed("firmware", "confirm", exc)
            raise
        self._audit("firmware", "info", f"firmware {running.version} confirmed", hash=running.hash)
        return images

    def revert(self, reset_timeout_s: float = 60.0) -> list[ImageSlot]:
        """Reset without confirming: MCUboot goes back to the confirmed image."""
        t = self.target
        try:
            slots = t.rollback()
        except EdgeConsoleError as exc:
            self._failed("firmware", "revert", exc)
            raise
        images = t.images()
        running = next((s for s in images if s.active), None)
        self._audit(
            "firmware",
            "warning",
            f"reverted: MCUboot runs {running.version if running else '?'} again",
            slots=len(slots),
        )
        return images

    def test(self, *, permanent: bool = False, reset_timeout_s: float = 60.0) -> list[ImageSlot]:
        """Mark slot 1's image for the next boot, reset, and say what runs after."""
        t = self.target
        spare = next((s for s in t.images() if s.slot == 1), None)
        if spare is None:
            raise ConfigError("slot 1 is empty: upload an image first", subject=t.url)
        try:
            t.test_image(spare.hash, permanent=permanent)
            t.reset()
            images = t.wait_back(reset_timeout_s)
        except EdgeConsoleError as exc:
            self._failed("firmware", "test", exc, hash=spare.hash)
            raise
        running = next((s for s in images if s.active), None)
        booted = running is not None and running.hash == spare.hash
        self._audit(
            "firmware",
            "info" if booted else "error",
            (
                f"firmware {spare.version} runs "
                + ("permanently" if permanent else "on test: confirm it, or reset to revert")
            )
            if booted
            else f"firmware {spare.version} did not boot: MCUboot runs "
            f"{running.version if running else 'nothing'}",
            hash=spare.hash,
            permanent=permanent,
        )
        return images

    def erase(self) -> None:
        try:
            self.target.erase_spare()
        except EdgeConsoleError as exc:
            self._failed("firmware", "erase", exc)
            raise
        self._audit("firmware", "info", "slot 1 erased")

    # -- files ---------------------------------------------------------------------------
    def put(self, local: Path, remote: str, progress: ProgressFn | None = None) -> fs.FileTransfer:
        data = read_local(local)
        return self._put(data, remote, progress, source=str(local))

    def _put(
        self, data: bytes, remote: str, progress: ProgressFn | None, **fields: Any
    ) -> fs.FileTransfer:
        try:
            result = fs.put_file(self.target, data, remote, progress)
        except EdgeConsoleError as exc:
            self._failed("file", f"writing {remote}", exc, **fields)
            raise
        self._audit(
            "file",
            "info",
            f"{remote} written ({result.size} B"
            + (f", resumed at {result.resumed_from}" if result.resumed_from else "")
            + ")",
            sha256=result.sha256,
            device_hash=result.device_hash.to_json() if result.device_hash else None,
            **fields,
        )
        return result

    def get(self, remote: str, dest: Path, progress: ProgressFn | None = None) -> fs.FileTransfer:
        try:
            result = fs.get_file(self.target, remote, dest, progress)
        except EdgeConsoleError as exc:
            self._failed("file", f"reading {remote}", exc)
            raise
        self._audit(
            "file", "info", f"{remote} read into {dest} ({result.size} B)", sha256=result.sha256
        )
        return result

    def place_model(
        self,
        bundle: Path,
        remote: str,
        *,
        trust_dir: Path | None = None,
        hardware_id: str | None = None,
        progress: ProgressFn | None = None,
    ) -> Placement:
        """Verify the bundle, then write its model to ``remote`` with the device's hash of
        the path before and after in the journal."""
        from edgeconsole.workshop.access import open_verified

        fs.check_remote(remote)
        vb = open_verified(bundle, trust_dir, hardware_id=hardware_id, mode="memory")
        model = vb.model_bytes
        name = f"{vb.manifest.bundle_id} v{vb.manifest.version}"
        before = self._hash_text(remote)
        result = self._put(
            model, remote, progress, bundle=name, model=vb.manifest.model, before=before
        )
        after = result.device_hash
        placement = Placement(
            remote,
            name,
            vb.manifest.model,
            before,
            f"{after.kind}:{after.value}" if after else "?",
            result,
        )
        self._audit(
            "file",
            "info",
            f"model of {name} placed at {remote}",
            before=placement.before,
            after=placement.after,
            bundle_file=str(bundle),
        )
        return placement

    def _hash_text(self, remote: str) -> str:
        if fs.device_size(self.target, remote) is None:
            return "absent"
        held = fs.device_hash(self.target, remote)
        return f"{held.kind}:{held.value}" if held else "present (the device cannot hash)"

    # -- shell, statistics ---------------------------------------------------------------
    def stat(self, remote: str) -> tuple[int, fs.DeviceHash | None]:
        """A file's size on the device and its hash (None when the device cannot hash);
        DeviceError when there is no such file."""
        fs.check_remote(remote)
        size = fs.device_size(self.target, remote)
        held = fs.device_hash(self.target, remote) if size else None
        if size is None:
            raise DeviceError("the file does not exist on the device", subject=remote)
        return size, held

    def shell(self, argv: list[str], timeout_s: float = 10.0) -> tuple[str, int]:
        command = " ".join(argv)
        try:
            out, ret = self.target.shell(argv, timeout_s)
        except EdgeConsoleError as exc:
            self._failed("shell", f"`{command}`", exc, command=command)
            raise
        kept = out[:MAX_SHELL_AUDIT]
        self._audit(
            "shell",
            "info" if ret == 0 else "warning",
            f"$ {command} (ret {ret})",
            command=command,
            ret=ret,
            output=kept,
            output_truncated=len(out) - len(kept),
        )
        return out, ret


@contextmanager
def stock_session(
    url: str, *, timeout_s: float = 2.5, journal: Path | None = None, audit: bool = True
) -> Iterator[StockActions]:
    """A stock (Zephyr/MCUmgr) device at ``url`` connected for one-shot work, and its
    actions, audited to the journal (``journal``: its folder, default the app's) unless
    ``audit`` is False; refused in words when the device is not a stock one."""
    from edgeconsole.devices.serial.client import SerialTarget
    from edgeconsole.devices.serial.stock import adopt

    if not 0.2 <= timeout_s <= 120:
        raise ConfigError("--timeout-s must be between 0.2 and 120 seconds")
    link = SerialTarget(url, timeout_s=timeout_s)
    book = None
    try:
        link.connect(probe=True)
        target = adopt(link)
        if not isinstance(target, StockTarget):
            what = (
                "runs EdgeConsole's firmware (group 65): use `edgeconsole slots`/`flash`"
                if link.smp
                else "does not speak SMP (telemetry only)"
            )
            raise DeviceError(f"the device {what}", subject=link.address.path)
        if audit:
            from edgeconsole.journal.journal import Journal

            book = Journal.open(journal)
        log = book.audit.log if book is not None else None

        def write(kind: str, level: str, message: str, **fields: Any) -> None:
            if log is not None:
                log(kind, level, target.url, message, **fields)

        yield StockActions(target, write if log is not None else None)
    finally:
        link.close()
        if book is not None:
            book.close()
