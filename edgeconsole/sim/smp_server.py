"""The virtual device's SMP server: decoded request frames in, response frames out.

Groups served (requests are parsed with the ``smp`` package's message classes):

- OS (0): echo, reset, MCUmgr parameters (``buf_size``: the client fills it),
  application info.
- Image (1): state read/write (test = activate on trial, confirm), upload with
  offsets and ``sha`` (resumable: a new upload whose ``sha`` and ``len`` match
  the unfinished one continues at the device's offset, as Zephyr does), erase.
  Image slot N is model slot N; an upload always lands in the inactive slot.
- EdgeConsole model slots (:data:`APP_GROUP_ID` = 65): see
  ``edgeconsole/devices/serial/README.md`` for the wire format. Command 7
  runs the active slot's model on a tensor the console sends in offset-driven
  chunks (like image upload) and answers the outputs (read back in chunks when
  they do not fit one response): ``smp_infer.py``. The group's numbers and its
  error: ``smp_app.py``.

Anything else gets an SMP error (``ENOTSUP``), never silence, so a client knows.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cbor2
from pydantic import ValidationError
from smp import header as smphdr
from smp import image_management as smpimg
from smp import os_management as smpos
from smp.error import MGMT_ERR
from smpclient.mcuboot import IMAGE_TLV

from edgeconsole.core.slots import SlotState, SlotTransitionError
from edgeconsole.sim.device_model import DeviceModel, SelfTestResult
from edgeconsole.sim.smp_app import APP_GROUP_ID, AppCmd, AppErr, SmpFailure, whole
from edgeconsole.sim.smp_infer import InferOutput, SmpInference
from edgeconsole.sim.storage import MAX_PAYLOAD, DeviceStorage

IMG = smphdr.GroupId.IMAGE_MANAGEMENT
OS = smphdr.GroupId.OS_MANAGEMENT
IMG_ERR = smpimg.IMG_MGMT_ERR
MCUBOOT_MAGIC = (0x96F3B83D).to_bytes(4, "little")


@dataclass
class UploadSession:
    slot: int
    sha: str
    length: int
    off: int = 0


@dataclass
class Identity:
    name: str = "edgeconsole-virtual"
    serial: str = "VIRT0001"
    hw_id: str = "mcu-sim"  # the hardware id sample bundles list for this device
    fw_version: str = "1.0.0"


class DeviceHooks:
    """What the server asks of the device around it (overridden by VirtualSerialDevice)."""

    def request_reset(self) -> None: ...

    def set_stream_rate(self, hz: float) -> float:
        return hz

    def stream_rate(self) -> float:
        return 0.0

    def running_changed(self) -> None: ...

    def self_test(self, slot: int) -> SelfTestResult:
        return SelfTestResult(True, "no model runner")

    def running_model(self) -> DeviceModel | None:
        """The active slot's model (None: nothing runs, so infer is refused)."""
        return None


class SmpServer:
    def __init__(
        self,
        storage: DeviceStorage,
        *,
        buf_size: int,
        identity: Identity | None = None,
        hooks: DeviceHooks | None = None,
    ) -> None:
        self.storage = storage
        self.buf_size = buf_size
        self.identity = identity or Identity()
        self.hooks = hooks or DeviceHooks()
        self.upload: UploadSession | None = None  # RAM: lost on reboot, kept over a cable cut
        self.started = time.monotonic()
        self.requests = 0
        self.inference = SmpInference(buf_size, lambda: self.hooks.running_model())
        self._facts: dict[str, tuple[str, bytes]] = {}
        self._handlers: dict[tuple[int, int, int], Callable[[bytes, Any], dict[str, Any]]] = {
            (OS, 0, smphdr.OP.WRITE): self._echo,
            (OS, 5, smphdr.OP.WRITE): self._reset,
            (OS, 6, smphdr.OP.READ): self._params,
            (OS, 7, smphdr.OP.READ): self._app_info,
            (IMG, 0, smphdr.OP.READ): self._image_state_read,
            (IMG, 0, smphdr.OP.WRITE): self._image_state_write,
            (IMG, 1, smphdr.OP.WRITE): self._image_upload,
            (IMG, 5, smphdr.OP.WRITE): self._image_erase,
            (APP_GROUP_ID, AppCmd.SLOTS, smphdr.OP.READ): self._app_slots,
            (APP_GROUP_ID, AppCmd.ACTIVATE, smphdr.OP.WRITE): self._app_activate,
            (APP_GROUP_ID, AppCmd.CONFIRM, smphdr.OP.WRITE): self._app_confirm,
            (APP_GROUP_ID, AppCmd.ROLLBACK, smphdr.OP.WRITE): self._app_rollback,
            (APP_GROUP_ID, AppCmd.SELFTEST, smphdr.OP.WRITE): self._app_selftest,
            (APP_GROUP_ID, AppCmd.STREAM, smphdr.OP.WRITE): self._app_stream,
            (APP_GROUP_ID, AppCmd.INFO, smphdr.OP.READ): self._app_info,
            (APP_GROUP_ID, AppCmd.INFER, smphdr.OP.WRITE): self.inference.write,
            (APP_GROUP_ID, AppCmd.INFER, smphdr.OP.READ): self.inference.read,
        }

    @property
    def infer_out(self) -> InferOutput | None:
        """The last inference's outputs kept for chunked reading (None: none)."""
        return self.inference.infer_out

    # -- framing ----------------------------------------------------------------
    def handle(self, frame: bytes) -> bytes | None:
        """One request frame (header + CBOR) -> one response frame, or None if unusable."""
        if len(frame) < smphdr.Header.SIZE:
            return None
        raw = frame[: smphdr.Header.SIZE]
        op_byte, _flags, length, group, seq, cmd = smphdr.Header._STRUCT.unpack(raw)
        op = op_byte & 0b111
        version = (op_byte >> 3) & 0b11
        if op not in (smphdr.OP.READ, smphdr.OP.WRITE) or version > 1:
            return None  # a response or garbage: a server never answers those
        if length != len(frame) - smphdr.Header.SIZE:
            return self._general(op, version, group, seq, cmd, MGMT_ERR.EINVAL, "length")
        self.requests += 1
        handler = self._handlers.get((group, cmd, op))
        if handler is None:
            return self._general(op, version, group, seq, cmd, MGMT_ERR.ENOTSUP, "not supported")
        try:
            body = cbor2.loads(frame[smphdr.Header.SIZE :]) if length else {}
            if not isinstance(body, dict):
                return self._general(op, version, group, seq, cmd, MGMT_ERR.EINVAL, "not a map")
            answer = handler(frame, body)
        except SmpFailure as fail:
            return self._error(op, version, group, seq, cmd, fail.rc, fail.reason)
        except (ValidationError, ValueError, cbor2.CBORDecodeError, TypeError):
            return self._general(op, version, group, seq, cmd, MGMT_ERR.EINVAL, "malformed")
        return self._response(op, version, group, seq, cmd, answer)

    def _response(
        self, op: int, version: int, group: int, seq: int, cmd: int, answer: dict[str, Any]
    ) -> bytes:
        body = cbor2.dumps(answer, canonical=True)
        head = smphdr.Header._STRUCT.pack((op + 1) | (version << 3), 0, len(body), group, seq, cmd)
        return head + body

    def _error(
        self, op: int, version: int, group: int, seq: int, cmd: int, rc: int, reason: str
    ) -> bytes:
        if version == smphdr.Version.V1:
            return self._response(op, version, group, seq, cmd, {"rc": int(rc)})
        answer: dict[str, Any] = {"err": {"group": group, "rc": int(rc)}}
        if group == APP_GROUP_ID and reason:
            answer["rsn"] = reason[:120]
        return self._response(op, version, group, seq, cmd, answer)

    def _general(
        self, op: int, version: int, group: int, seq: int, cmd: int, rc: int, reason: str
    ) -> bytes:
        # A general MCUmgr code (MGMT_ERR) goes in the top-level ``rc``, in SMP v2 too, as
        # Zephyr's smp_build_err_rsp does: inside ``err`` it would read as the group's
        # own code (EINVAL = 3 is the app group's SELFTEST_FAILED).
        answer: dict[str, Any] = {"rc": int(rc)}
        if version != smphdr.Version.V1 and reason:
            answer["rsn"] = reason[:120]
        return self._response(op, version, group, seq, cmd, answer)

    # -- OS group -------------------------------------------------------------------
    def _echo(self, frame: bytes, body: Any) -> dict[str, Any]:
        req = smpos.EchoWriteRequest.loads(frame)
        return {"r": req.d}

    def _reset(self, frame: bytes, body: Any) -> dict[str, Any]:
        self.hooks.request_reset()
        return {}

    def _params(self, frame: bytes, body: Any) -> dict[str, Any]:
        return {"buf_size": self.buf_size, "buf_count": 1}

    def _app_info(self, frame: bytes, body: Any) -> dict[str, Any]:
        ident = self.identity
        if frame[4:6] == OS.to_bytes(2, "big"):
            return {"output": f"{ident.name} {ident.fw_version} ({ident.hw_id})"}
        return {
            "name": ident.name,
            "serial": ident.serial,
            "hw_id": ident.hw_id,
            "fw_version": ident.fw_version,
            "buf_size": self.buf_size,
            "app_group": APP_GROUP_ID,
            "uptime_s": round(time.monotonic() - self.started, 3),
            "stream_hz": self.hooks.stream_rate(),
        }

    # -- image group ----------------------------------------------------------------
    def _image_facts(self, index: int) -> tuple[str, bytes]:
        """Version and hash as image state reports them.

        For an MCUboot image (what a Zephyr device would hold) that is the
        header's version and the SHA256 TLV, so smpmgr's hashes mean what they
        mean on real hardware; for a bundle, its version and the file's sha256.
        """
        rec = self.storage.table.slot(index)
        key = rec.sha256
        if key not in self._facts:
            version, digest = f"{rec.version}.0.0", bytes.fromhex(rec.sha256)
            path = self.storage.payload_path(index)
            try:
                with path.open("rb") as fh:
                    head = fh.read(32)
                    if len(head) == 32 and head[:4] == MCUBOOT_MAGIC:
                        from smpclient.mcuboot import ImageInfo

                        info = ImageInfo.load_file(str(path))
                        version = str(info.header.ver)
                        digest = bytes(info.get_tlv(IMAGE_TLV.SHA256).value)
            except Exception:  # not a well-formed MCUboot image: report the file itself
                pass
            self._facts = {key: (version, digest)}
        return self._facts[key]

    def _images(self) -> dict[str, Any]:
        table = self.storage.table
        images = []
        for rec in table.slots:
            if rec.state in (SlotState.EMPTY, SlotState.STAGING) or not rec.sha256:
                continue
            version, digest = self._image_facts(rec.index)
            entry: dict[str, Any] = {
                "image": 0,
                "slot": rec.index,
                "version": version,
                "hash": digest,
            }
            if rec.state in (SlotState.STAGED, SlotState.TRIAL, SlotState.CONFIRMED):
                entry["bootable"] = True
            if rec.state is SlotState.TRIAL:
                entry["pending"] = True
            if table.confirmed == rec.index:
                entry["confirmed"] = True
            if table.running == rec.index:
                entry["active"] = True
            images.append(entry)
        return {"images": images}

    def _image_state_read(self, frame: bytes, body: Any) -> dict[str, Any]:
        return self._images()

    def _slot_by_hash(self, digest: bytes) -> int:
        for rec in self.storage.table.slots:
            if rec.sha256 and digest in (
                bytes.fromhex(rec.sha256),
                self._image_facts(rec.index)[1],
            ):
                return rec.index
        raise SmpFailure(IMG, IMG_ERR.NO_IMAGE, "no slot holds that hash")

    def _image_state_write(self, frame: bytes, body: Any) -> dict[str, Any]:
        req = smpimg.ImageStatesWriteRequest.loads(frame)
        table = self.storage.table
        try:
            if req.hash is not None and not req.confirm:
                slot = self._slot_by_hash(req.hash)
                if table.slot(slot).state is not SlotState.TRIAL and slot != table.running:
                    self.storage.slots.apply(lambda t: t.activate(slot))
                    self.hooks.running_changed()
            elif req.confirm:
                which = table.running if req.hash is None else self._slot_by_hash(req.hash)
                if which is None:
                    raise SmpFailure(IMG, IMG_ERR.NO_IMAGE, "nothing running")
                slot = which
                self.storage.slots.apply(lambda t: t.confirm(slot))
            else:
                raise SmpFailure(IMG, IMG_ERR.INVALID_HASH, "hash required")
        except SlotTransitionError as exc:
            raise SmpFailure(IMG, IMG_ERR.IMAGE_CONFIRMATION_DENIED, str(exc)) from None
        return self._images()

    def _image_erase(self, frame: bytes, body: Any) -> dict[str, Any]:
        req = smpimg.ImageEraseRequest.loads(frame)
        table = self.storage.table
        slot = 1 if req.slot is None else req.slot
        if slot != table.inactive:
            raise SmpFailure(IMG, IMG_ERR.IMAGE_SETTING_TEST_TO_ACTIVE_DENIED, "slot in use")
        rec = table.slot(slot)
        self.storage.slots.save(table.with_slot(rec, state=SlotState.EMPTY, sha256="", length=0))
        self.storage.payload_path(slot).unlink(missing_ok=True)
        if self.upload and self.upload.slot == slot:
            self.upload = None
        return {}

    def _image_upload(self, frame: bytes, body: Any) -> dict[str, Any]:
        req = smpimg.ImageUploadWriteRequest.loads(frame)
        storage = self.storage
        if req.off == 0:
            if req.len is None or req.len <= 0:
                raise SmpFailure(IMG, IMG_ERR.INVALID_LENGTH, "len required")
            if req.len > MAX_PAYLOAD:
                raise SmpFailure(IMG, IMG_ERR.INVALID_IMAGE_TOO_LARGE, "too large")
            if req.image not in (None, 0):
                raise SmpFailure(IMG, IMG_ERR.INVALID_SLOT, "only image 0")
            if req.sha is None or len(req.sha) != 32:
                raise SmpFailure(IMG, IMG_ERR.INVALID_HASH, "sha256 required")
            sha = req.sha.hex()
            up = self.upload
            table = storage.table
            if (
                up is not None
                and up.sha == sha
                and up.length == req.len
                and 0 < up.off < up.length
                and table.slot(up.slot).state is SlotState.STAGING
            ):
                return {"off": up.off}  # resume where the device is
            try:
                slot = table.inactive
                self.upload = None
                storage.slots.apply(lambda t: t.begin_staging(slot, sha, req.len or 0))
            except SlotTransitionError as exc:
                raise SmpFailure(IMG, IMG_ERR.NO_FREE_SLOT, str(exc)) from None
            storage.open_staging(slot)
            self.upload = UploadSession(slot, sha, req.len)
        up = self.upload
        if up is None:
            raise SmpFailure(IMG, IMG_ERR.INVALID_OFFSET, "no upload in progress")
        if req.off != up.off:
            return {"off": up.off}  # the client lost track: tell it where we are
        if up.off + len(req.data) > up.length:
            raise SmpFailure(IMG, IMG_ERR.INVALID_IMAGE_DATA_OVERRUN, "data beyond len")
        if req.data:
            storage.write_chunk(up.slot, up.off, req.data)
            up.off += len(req.data)
        if up.off < up.length:
            return {"off": up.off}
        digest = storage.commit_payload(up.slot, up.length)
        slot, self.upload = up.slot, None
        if digest != up.sha:
            storage.slots.apply(lambda t: t.discard_staging(slot))
            return {"off": up.length, "match": False}
        storage.slots.apply(lambda t: t.finish_staging(slot, digest))
        return {"off": up.length, "match": True}

    # -- EdgeConsole app group --------------------------------------------------------
    def _slots_answer(self) -> dict[str, Any]:
        table = self.storage.table
        return {
            "slots": [s.to_json() for s in table.slots],
            "running": table.running if table.running is not None else -1,
            "confirmed": table.confirmed if table.confirmed is not None else -1,
        }

    def _transition(self, change: Callable[[Any], Any]) -> dict[str, Any]:
        try:
            self.storage.slots.apply(change)
        except SlotTransitionError as exc:
            raise SmpFailure(APP_GROUP_ID, AppErr.REFUSED, str(exc)) from None
        self.hooks.running_changed()
        return self._slots_answer()

    def _app_slots(self, frame: bytes, body: Any) -> dict[str, Any]:
        return self._slots_answer()

    def _app_activate(self, frame: bytes, body: Any) -> dict[str, Any]:
        slot = whole(body, "slot")
        if slot is None or slot >= len(self.storage.table.slots):
            raise SmpFailure(APP_GROUP_ID, AppErr.NO_SLOT, "slot required")
        bundle_id = body.get("bundle_id")
        if bundle_id is not None and (not isinstance(bundle_id, str) or len(bundle_id) > 200):
            raise SmpFailure(APP_GROUP_ID, AppErr.INVALID, "bundle_id must be a short string")
        version = whole(body, "bundle_version")
        attempts = whole(body, "attempts", 3) or 3
        return self._transition(
            lambda t: t.activate(slot, attempts=attempts, bundle_id=bundle_id, version=version)
        )

    def _app_confirm(self, frame: bytes, body: Any) -> dict[str, Any]:
        slot = whole(body, "slot")
        return self._transition(lambda t: t.confirm(slot))

    def _app_rollback(self, frame: bytes, body: Any) -> dict[str, Any]:
        return self._transition(lambda t: t.rollback())

    def _app_selftest(self, frame: bytes, body: Any) -> dict[str, Any]:
        table = self.storage.table
        slot = whole(body, "slot", table.running)
        if slot is None or slot >= len(table.slots):
            raise SmpFailure(APP_GROUP_ID, AppErr.NO_SLOT, "no such slot")
        if not self.storage.payload_ok(slot):
            result = SelfTestResult(False, "slot bytes do not match their hash")
        else:
            result = self.hooks.self_test(slot)
        answer = result.to_json()
        answer["slot"] = slot
        answer["rolled_back"] = False
        if not result.passed and table.trial == slot:
            # The device protects itself: a trial that fails its health check is over.
            self.storage.slots.apply(lambda t: t.rollback())
            self.hooks.running_changed()
            answer["rolled_back"] = True
        answer.update(self._slots_answer())
        return answer

    def _app_stream(self, frame: bytes, body: Any) -> dict[str, Any]:
        rate = body.get("rate")
        if not isinstance(rate, int | float) or isinstance(rate, bool) or not 0 <= rate <= 5000:
            raise SmpFailure(APP_GROUP_ID, AppErr.INVALID, "rate must be 0..5000 Hz")
        return {"rate": self.hooks.set_stream_rate(float(rate))}


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
