"""The stock virtual device's flash as MCUboot sees it: two image slots and their trailers.

Slot 0 (primary) runs; slot 1 (secondary) takes uploads. Each slot has an
MCUboot trailer (``magic``, ``image_ok``, ``copy_done``) from which the swap
type follows exactly as in MCUboot's ``boot_swap_type``: secondary magic
without image_ok = TEST, with image_ok = PERM, a primary that was swapped in
(copy_done) but not confirmed (image_ok) = REVERT, else NONE. At boot a TEST or
PERM swap exchanges the slots (after validating the new image: hash,
signature, downgrade prevention, vendor/class ids; a bad one is erased), and
a REVERT swaps them back; ``overwrite`` mode copies instead and cannot revert.

Persistence (power-cut safety): image bytes live in ``images/<sha256>.bin``,
written to a temp file, fsynced and renamed before anything refers to them;
``boot.json`` (which image is in which slot, and the trailers) changes by one
atomic write (``core.slots.atomic_write``). A swap is therefore one write: a
power cut (or kill -9) at any instant leaves the old or the new state, and
the next boot finishes whatever was due. Every persistent write passes the
:class:`~edgeconsole.sim.storage.PowerRail`, so tests can cut power at each one.

The image manager's rules (what may be tested, confirmed, erased, uploaded
into) follow Zephyr's ``img_mgmt_state.c``.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

from edgeconsole.core.atomic import atomic_write
from edgeconsole.core.errors import ImageError
from edgeconsole.devices.serial.mcuboot import (
    ImageFacts,
    TrustedKey,
    check_image,
    inspect_image,
)
from edgeconsole.sim.storage import PowerRail

NONE, TEST, PERM, REVERT = "none", "test", "perm", "revert"
#: What the image manager calls the next boot (img_mgmt_get_next_boot_slot).
NORMAL = "normal"
#: MCUboot modes as the bootloader-info query reports them.
MODE_NUMBER = {"swap": 3, "overwrite": 2}


@dataclass(frozen=True)
class Trailer:
    magic: bool = False
    image_ok: bool = False
    copy_done: bool = False


@dataclass(frozen=True)
class FlashState:
    images: tuple[str | None, str | None] = (None, None)  # file sha256 per slot
    trailers: tuple[Trailer, Trailer] = (Trailer(), Trailer())

    def swap_type(self) -> str:
        primary, secondary = self.trailers
        if self.images[1] is not None and secondary.magic:
            return PERM if secondary.image_ok else TEST
        if primary.magic and primary.copy_done and not primary.image_ok:
            return REVERT
        return NONE

    def next_boot(self) -> tuple[int, str]:
        """(slot, kind) of the next boot, kind one of normal/test/revert."""
        kind = self.swap_type()
        if kind == NONE:
            return 0, NORMAL
        if kind == PERM:
            return 1, NORMAL
        return 1, kind

    def slot_in_use(self, slot: int) -> bool:
        nbs, kind = self.next_boot()
        if slot == nbs and kind == REVERT:
            return True  # the confirmed image a revert goes back to
        if (slot == nbs and kind == TEST) or (nbs != 0 and kind == NORMAL):
            return True  # pending
        return slot == 0

    def to_json(self) -> dict[str, object]:
        return {
            "images": list(self.images),
            "trailers": [t.__dict__ for t in self.trailers],
        }

    @staticmethod
    def from_json(raw: object) -> FlashState:
        if not isinstance(raw, dict):
            raise ValueError("boot state is not a map")
        images = raw.get("images")
        trailers = raw.get("trailers")
        if not isinstance(images, list) or not isinstance(trailers, list):
            raise ValueError("boot state lacks images/trailers")
        if len(images) != 2 or len(trailers) != 2:
            raise ValueError("boot state must have two slots")
        for sha in images:
            if sha is not None and (not isinstance(sha, str) or len(sha) != 64):
                raise ValueError("bad image reference")
        tr = []
        for t in trailers:
            if not isinstance(t, dict):
                raise ValueError("bad trailer")
            tr.append(
                Trailer(bool(t.get("magic")), bool(t.get("image_ok")), bool(t.get("copy_done")))
            )
        return FlashState((images[0], images[1]), (tr[0], tr[1]))


class ImageRefused(Exception):
    """The image manager refuses a state change; ``code`` is an IMG_MGMT_ERR value."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass
class BootReport:
    running: ImageFacts | None  # None: MCUboot found nothing bootable (a brick)
    events: list[str]


class McubootFlash:
    def __init__(
        self,
        directory: Path,
        rail: PowerRail | None = None,
        *,
        mode: str = "swap",
        slot_size: int = 1024 * 1024,
        keys: list[TrustedKey] | None = None,
        no_downgrade: bool = False,
        vid: bytes | None = None,
        cid: bytes | None = None,
    ) -> None:
        if mode not in MODE_NUMBER:
            raise ValueError(f"MCUboot mode must be one of {', '.join(MODE_NUMBER)}")
        self.dir = Path(directory)
        (self.dir / "images").mkdir(parents=True, exist_ok=True)
        self.rail = rail if rail is not None else PowerRail()
        self.mode = mode
        self.slot_size = slot_size
        self.keys = keys or []
        self.no_downgrade = no_downgrade
        self.vid = vid
        self.cid = cid
        self.state = self._load()
        self._facts: dict[str, ImageFacts] = {}

    # -- persistence ------------------------------------------------------------------
    @property
    def _state_path(self) -> Path:
        return self.dir / "boot.json"

    def image_path(self, sha: str) -> Path:
        return self.dir / "images" / f"{sha}.bin"

    @property
    def part_path(self) -> Path:
        return self.dir / "upload.part"

    def _load(self) -> FlashState:
        raw = b""
        try:
            raw = self._state_path.read_bytes()
            state = FlashState.from_json(json.loads(raw))
        except FileNotFoundError:
            return FlashState()
        except (OSError, ValueError) as exc:
            # atomic_write never leaves a torn file; this is damage from outside. What the
            # file held is in the message: the one time this was seen (a CI run) it said
            # only that the file was not JSON.
            raise RuntimeError(
                f"boot state {self._state_path} unreadable ({len(raw)} bytes, "
                f"starting {raw[:48]!r}): {exc}"
            ) from exc
        # A slot whose bytes are missing is an erased slot (never happens by our writes).
        images = tuple(s if s and self.image_path(s).is_file() else None for s in state.images)
        return replace(state, images=(images[0], images[1]))

    def _save(self, state: FlashState) -> None:
        atomic_write(
            self._state_path, json.dumps(state.to_json(), sort_keys=True).encode(), self.rail
        )
        self.state = state

    def store_image(self, data: bytes) -> str:
        """Put complete image bytes into the image store (durable before use)."""
        sha = hashlib.sha256(data).hexdigest()
        path = self.image_path(sha)
        if not path.is_file():
            atomic_write(path, data, self.rail)
        return sha

    def image_bytes(self, slot: int) -> bytes | None:
        sha = self.state.images[slot]
        if sha is None:
            return None
        try:
            return self.image_path(sha).read_bytes()
        except FileNotFoundError:
            return None

    def facts(self, slot: int) -> ImageFacts | None:
        """What the image in ``slot`` says about itself (None: erased or not an image)."""
        sha = self.state.images[slot]
        if sha is None:
            return None
        if sha not in self._facts:
            data = self.image_bytes(slot)
            if data is None:
                return None
            try:
                self._facts[sha] = inspect_image(data)
            except ImageError:
                return None
        return self._facts.get(sha)

    def slot_of_hash(self, digest: bytes) -> int | None:
        for slot in (0, 1):
            f = self.facts(slot)
            if f is not None and f.tlv_hash == digest:
                return slot
        return None

    # -- the image manager (what the application may ask) ------------------------------
    def set_next_boot(self, slot: int, confirm: bool) -> None:
        """img_mgmt_set_next_boot_slot: raise :class:`ImageRefused` like Zephyr."""
        from smp.image_management import IMG_MGMT_ERR as E

        state = self.state
        nbs, kind = state.next_boot()
        if not confirm and slot == 0:
            raise ImageRefused(
                E.IMAGE_SETTING_TEST_TO_ACTIVE_DENIED, "cannot test the running image"
            )
        if kind == TEST:
            if not confirm and slot == nbs:
                return
            raise ImageRefused(E.IMAGE_ALREADY_PENDING, "another image is pending")
        if kind == NORMAL:
            if confirm and slot == nbs:
                return
            if (slot == 0 and nbs != 0) or (not confirm and slot != 0 and slot == nbs):
                raise ImageRefused(E.IMAGE_ALREADY_PENDING, "a permanent swap is pending")
        if kind == REVERT:
            if confirm and slot == nbs:
                return
            if not confirm:
                raise ImageRefused(E.IMAGE_ALREADY_PENDING, "the running image is on test")
        primary, secondary = state.trailers
        if slot == 0:  # confirm the running image: no revert on the next boot
            new = (replace(primary, magic=True, image_ok=True), secondary)
        else:
            if self.image_bytes(1) is None:
                raise ImageRefused(E.NO_IMAGE, "no image in slot 1")
            new = (primary, Trailer(magic=True, image_ok=confirm))
        self._save(replace(state, trailers=new))

    def erase(self, slot: int) -> None:
        from smp.image_management import IMG_MGMT_ERR as E

        if slot not in (0, 1):
            raise ImageRefused(E.INVALID_SLOT, "no such slot")
        if self.facts(slot) is not None and self.state.slot_in_use(slot):
            raise ImageRefused(E.NO_FREE_SLOT, "the slot is in use")
        if slot == 0:
            raise ImageRefused(E.NO_FREE_SLOT, "the running slot")
        self._erase_secondary()

    def _erase_secondary(self) -> None:
        state = self.state
        if state.images[1] is not None or state.trailers[1] != Trailer():
            self._save(FlashState((state.images[0], None), (state.trailers[0], Trailer())))

    def begin_upload(self) -> None:
        """Erase slot 1 for a new upload (refused when it is in use)."""
        from smp.image_management import IMG_MGMT_ERR as E

        if self.state.slot_in_use(1):
            raise ImageRefused(E.NO_FREE_SLOT, "slot 1 holds a pending or fallback image")
        self._erase_secondary()
        with self.part_path.open("wb"):
            pass

    def write_upload(self, off: int, data: bytes) -> None:
        fd = os.open(self.part_path, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            os.pwrite(fd, data, off)
        finally:
            os.close(fd)

    def finish_upload(self, length: int, sha: bytes | None) -> bool:
        """Make the uploaded bytes slot 1's image; False if they do not match ``sha``."""
        self.rail("payload-sync")
        with self.part_path.open("rb") as fh:
            data = fh.read(length + 1)
        self.part_path.unlink(missing_ok=True)
        if len(data) != length or (sha is not None and hashlib.sha256(data).digest() != sha):
            return False
        digest = self.store_image(data)
        self._save(FlashState((self.state.images[0], digest), (self.state.trailers[0], Trailer())))
        return True

    # -- the bootloader ---------------------------------------------------------------
    def validate(self, slot: int) -> str:
        """Empty when MCUboot would boot the image in ``slot``, else why not."""
        data = self.image_bytes(slot)
        if data is None:
            return "no image"
        try:
            check = check_image(data, self.keys, allow_unsigned=not self.keys)
        except ImageError as exc:
            sha = self.state.images[slot] or ""
            try:
                on_disk = f"{self.image_path(sha).stat().st_size} on disk"
            except OSError as err:
                on_disk = f"file: {err.strerror}"
            return f"{exc.what} (read {len(data)} bytes, {on_disk}, starting {data[:8].hex()})"
        facts = check.facts
        if len(data) > self.slot_size:
            return "image larger than the slot"
        if not facts.bootable:
            return "image marked non-bootable"
        if self.vid is not None and facts.vid != self.vid:
            return "vendor id does not match this device"
        if self.cid is not None and facts.cid != self.cid:
            return "image class id does not match this board"
        if slot == 1 and self.no_downgrade:
            running = self.facts(0)
            if running is not None and facts.version.key < running.version.key:
                return f"downgrade from {running.version} to {facts.version} prevented"
        return ""

    def boot(self) -> BootReport:
        """MCUboot at power-on. Each step is one atomic write: a cut here just boots again."""
        self.part_path.unlink(missing_ok=True)
        self.state = state = self._load()  # what is on flash, not what RAM believed
        events: list[str] = []
        kind = state.swap_type()
        if kind in (TEST, PERM):
            why = self.validate(1)
            if why:
                events.append(f"MCUboot: slot 1 image rejected ({why}); erased")
                self._erase_secondary()
            elif self.mode == "overwrite":
                done = Trailer(magic=True, image_ok=True, copy_done=True)
                self._save(FlashState((state.images[1], None), (done, Trailer())))
                events.append("MCUboot: slot 1 copied to slot 0 (overwrite)")
            else:
                swapped = Trailer(magic=True, image_ok=kind == PERM, copy_done=True)
                self._save(FlashState((state.images[1], state.images[0]), (swapped, Trailer())))
                events.append(f"MCUboot: swapped slots ({kind})")
        elif kind == REVERT:
            done = Trailer(magic=True, image_ok=True, copy_done=True)
            self._save(FlashState((state.images[1], state.images[0]), (done, Trailer())))
            events.append("MCUboot: reverted: the image on test was not confirmed")
        why = self.validate(0)
        if why:
            events.append(f"MCUboot: no bootable image in slot 0 ({why})")
            return BootReport(None, events)
        self._collect()
        return BootReport(self.facts(0), events)

    def install_factory(self, data: bytes) -> None:
        """First power-on: the image the device left the factory with, confirmed."""
        sha = self.store_image(data)
        self._save(FlashState((sha, None), (Trailer(magic=True, image_ok=True), Trailer())))

    def _collect(self) -> None:
        """Forget image files no slot refers to (a cut upload, a replaced image)."""
        keep = {s for s in self.state.images if s}
        for path in (self.dir / "images").glob("*"):
            if path.stem not in keep or path.suffix != ".bin":
                path.unlink(missing_ok=True)
