"""The SMP server of a stock Zephyr ``smp_svr`` with MCUboot: standard groups only.

Groups (each can be left out, as a firmware built without it): OS (0: echo,
reset, MCUmgr parameters, OS/application info, bootloader info), image (1:
state read/write, upload with offset and ``sha`` resume, erase), statistics
(2), file system (8, :mod:`~edgeconsole.sim.stock_fs`), shell (9,
:mod:`~edgeconsole.sim.stock_shell`) and group enumeration (10). Requests are
read with the ``smp`` package's message classes; answers and errors are
encoded as Zephyr encodes them: a group's own error is ``{"err": {"group",
"rc"}}`` (SMP v2), a general one ``{"rc": N}``, an unknown command
``ENOTSUP``, and an answer too large for the device's buffer ``EMSGSIZE``.
No EdgeConsole group (65) here: that is ``sim.smp_server``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cbor2
from pydantic import ValidationError
from smp import header as smphdr
from smp import image_management as smpimg
from smp import os_management as smpos
from smp.enumeration_management import ENUM_MGMT_ERR
from smp.error import MGMT_ERR
from smp.image_management import IMG_MGMT_ERR
from smp.os_management import OS_MGMT_RET_RC
from smp.statistics_management import STAT_MGMT_ERR
from smpclient.mcuboot import IMAGE_HEADER_SIZE

from edgeconsole.devices.serial.mcuboot import version_of
from edgeconsole.sim.mcuboot_flash import MODE_NUMBER, ImageRefused, McubootFlash
from edgeconsole.sim.stock_fs import FsFailure, SimFileSystem
from edgeconsole.sim.stock_shell import ShellContext, execute

G = smphdr.GroupId
#: Zephyr's names for the groups it registers (enum_mgmt details).
GROUP_NAMES: dict[int, str] = {
    G.OS_MANAGEMENT: "os",
    G.IMAGE_MANAGEMENT: "img",
    G.STATISTICS_MANAGEMENT: "stat",
    G.FILE_MANAGEMENT: "fs",
    G.SHELL_MANAGEMENT: "shell",
    G.ENUM_MANAGEMENT: "enum",
}
#: Command-line names of the groups (``--groups os,img,fs``).
GROUP_IDS: dict[str, int] = {name: gid for gid, name in GROUP_NAMES.items()}
R, W = smphdr.OP.READ, smphdr.OP.WRITE


class Failure(Exception):
    """An error answer: a group's own code, or a general MGMT_ERR one."""

    def __init__(self, group: int | None, rc: int, reason: str = "", **extra: Any) -> None:
        super().__init__(reason)
        self.group = group
        self.rc = rc
        self.reason = reason
        self.extra = extra


@dataclass
class Identity:
    board: str = "edgeconsole_sim"  # CONFIG_BOARD: what `os info -f i` reports
    node: str = "stock-sim"
    kernel: str = "3.7.0"


@dataclass
class UploadSession:
    """The image upload in progress (RAM: a reset forgets it; a cable cut does not)."""

    length: int
    sha: bytes
    off: int = 0


@dataclass
class Counters:
    """The statistics groups' values (RAM, as Zephyr's stats)."""

    rx_frames: int = 0
    tx_frames: int = 0
    rx_bytes: int = 0
    tx_bytes: int = 0
    errors: int = 0
    uploads: int = 0
    writes: int = 0
    extra: dict[str, int] = field(default_factory=dict)


class StockServer:
    def __init__(
        self,
        flash: McubootFlash,
        fs: SimFileSystem,
        *,
        buf_size: int,
        groups: frozenset[int] = frozenset(GROUP_NAMES),
        identity: Identity | None = None,
        request_reset: Callable[[], None] = lambda: None,
        shell_stop: Any = None,
    ) -> None:
        import threading

        self.flash = flash
        self.fs = fs
        self.buf_size = buf_size
        self.groups = frozenset(groups)
        self.identity = identity or Identity()
        self.request_reset = request_reset
        self.booted_at = time.monotonic()
        self.counters = Counters()
        self.upload: UploadSession | None = None
        self.shell = ShellContext(
            fs,
            self.booted_at,
            self._running_version,
            self.identity.board,
            shell_stop if shell_stop is not None else threading.Event(),
        )
        H = Callable[[Any], dict[str, Any]]
        self._handlers: dict[tuple[int, int, int], H] = {
            (G.OS_MANAGEMENT, 0, W): self._echo,
            (G.OS_MANAGEMENT, 5, W): self._reset,
            (G.OS_MANAGEMENT, 6, R): self._params,
            (G.OS_MANAGEMENT, 7, R): self._os_info,
            (G.OS_MANAGEMENT, 8, R): self._bootloader,
            (G.IMAGE_MANAGEMENT, 0, R): lambda b: self._images(),
            (G.IMAGE_MANAGEMENT, 0, W): self._image_state_write,
            (G.IMAGE_MANAGEMENT, 1, W): self._image_upload,
            (G.IMAGE_MANAGEMENT, 5, W): self._image_erase,
            (G.STATISTICS_MANAGEMENT, 0, R): self._stat_group,
            (G.STATISTICS_MANAGEMENT, 1, R): lambda b: {"stat_list": list(self._stats())},
            (G.FILE_MANAGEMENT, 0, R): lambda b: self.fs.download(b, self._room(48)),
            (G.FILE_MANAGEMENT, 0, W): self._fs_upload,
            (G.FILE_MANAGEMENT, 1, R): self.fs.status,
            (G.FILE_MANAGEMENT, 2, R): self.fs.hash,
            (G.FILE_MANAGEMENT, 3, R): lambda b: self.fs.supported(),
            (G.FILE_MANAGEMENT, 4, W): lambda b: self.fs.close(),
            (G.SHELL_MANAGEMENT, 0, W): self._shell,
            (G.ENUM_MANAGEMENT, 0, R): lambda b: {"count": len(self._enabled())},
            (G.ENUM_MANAGEMENT, 1, R): lambda b: {"groups": self._enabled()},
            (G.ENUM_MANAGEMENT, 2, R): self._enum_single,
            (G.ENUM_MANAGEMENT, 3, R): self._enum_details,
        }

    def rebooted(self) -> None:
        """RAM is gone: upload session, open files, counters, uptime."""
        self.upload = None
        self.fs.reset()
        self.counters = Counters()
        self.booted_at = time.monotonic()
        self.shell.booted_at = self.booted_at

    # -- framing ------------------------------------------------------------------
    def handle(self, frame: bytes) -> bytes | None:
        if len(frame) < smphdr.Header.SIZE:
            return None
        op_byte, _flags, length, group, seq, cmd = smphdr.Header._STRUCT.unpack(
            frame[: smphdr.Header.SIZE]
        )
        op = op_byte & 0b111
        version = (op_byte >> 3) & 0b11
        if op not in (R, W) or version > 1:
            return None  # a response or garbage: a server never answers those
        self.counters.rx_frames += 1
        self.counters.rx_bytes += len(frame)
        try:
            if length != len(frame) - smphdr.Header.SIZE:
                raise Failure(None, MGMT_ERR.EINVAL, "length")
            handler = self._handlers.get((group, cmd, op))
            if handler is None or group not in self.groups:
                raise Failure(None, MGMT_ERR.ENOTSUP, "not supported")
            body = cbor2.loads(frame[smphdr.Header.SIZE :]) if length else {}
            if not isinstance(body, dict):
                raise Failure(None, MGMT_ERR.EINVAL, "body is not a map")
            self._frame = frame
            answer = handler(body)
        except Failure as fail:
            answer = self._error(version, fail)
        except FsFailure as fail:
            answer = self._error(
                version,
                Failure(
                    None if fail.general else G.FILE_MANAGEMENT, fail.rc, fail.reason, **fail.extra
                ),
            )
        except ImageRefused as exc:
            answer = self._error(version, Failure(G.IMAGE_MANAGEMENT, exc.code, exc.reason))
        except (ValidationError, ValueError, cbor2.CBORDecodeError, TypeError, KeyError):
            answer = self._error(version, Failure(None, MGMT_ERR.EINVAL, "malformed"))
        out = self._encode(op, version, group, seq, cmd, answer)
        if len(out) + 2 > self.buf_size:  # header + CBOR + CRC must fit the buffer
            out = self._encode(op, version, group, seq, cmd, {"rc": int(MGMT_ERR.EMSGSIZE)})
        self.counters.tx_frames += 1
        self.counters.tx_bytes += len(out)
        return out

    @staticmethod
    def _encode(
        op: int, version: int, group: int, seq: int, cmd: int, answer: dict[str, Any]
    ) -> bytes:
        body = cbor2.dumps(answer, canonical=True)
        head = smphdr.Header._STRUCT.pack((op + 1) | (version << 3), 0, len(body), group, seq, cmd)
        return head + body

    def _error(self, version: int, fail: Failure) -> dict[str, Any]:
        self.counters.errors += 1
        if fail.group is None or version == smphdr.Version.V1:
            rc = fail.rc if fail.group is None else MGMT_ERR.EUNKNOWN
            return {"rc": int(rc)}
        return {"err": {"group": int(fail.group), "rc": int(fail.rc)}, **fail.extra}

    def _room(self, overhead: int) -> int:
        """Bytes of data one answer can carry (header, CBOR keys, CRC: ``overhead``)."""
        return max(16, self.buf_size - overhead)

    # -- OS -------------------------------------------------------------------------
    def _echo(self, body: Any) -> dict[str, Any]:
        return {"r": smpos.EchoWriteRequest.loads(self._frame).d}

    def _reset(self, body: Any) -> dict[str, Any]:
        self.request_reset()
        return {}

    def _params(self, body: Any) -> dict[str, Any]:
        return {"buf_size": self.buf_size, "buf_count": 4}

    def _os_info(self, body: Any) -> dict[str, Any]:
        fmt = body.get("format", "")
        if not isinstance(fmt, str):
            raise Failure(None, MGMT_ERR.EINVAL, "format")
        ident = self.identity
        fields = {
            "s": "Zephyr",
            "n": ident.node,
            "r": ident.kernel,
            "v": f"v{ident.kernel}",
            "b": "2026-12-01T08:00:00",
            "m": "arm",
            "p": "cortex-m4",
            "i": ident.board,
            "o": "Zephyr",
        }
        if any(c not in fields and c != "a" for c in fmt):
            raise Failure(G.OS_MANAGEMENT, OS_MGMT_RET_RC.INVALID_FORMAT, "format")
        wanted = set(fields) if "a" in fmt else set(fmt) or {"s"}
        return {"output": " ".join(v for k, v in fields.items() if k in wanted)}

    def _bootloader(self, body: Any) -> dict[str, Any]:
        query = body.get("query")
        if query is None:
            return {"bootloader": "MCUboot"}
        if query == "mode":
            answer: dict[str, Any] = {"mode": MODE_NUMBER[self.flash.mode]}
            if self.flash.no_downgrade:
                answer["no-downgrade"] = True
            return answer
        raise Failure(G.OS_MANAGEMENT, OS_MGMT_RET_RC.QUERY_YIELDS_NO_ANSWER, "query")

    # -- image ------------------------------------------------------------------------
    def _running_version(self) -> str:
        facts = self.flash.facts(0)
        return str(facts.version) if facts else "?"

    def _images(self) -> dict[str, Any]:
        state = self.flash.state
        nbs, kind = state.next_boot()
        flags = {0: {"active": True, "confirmed": kind != "revert"}, 1: {}}
        if nbs != 0:
            if kind == "normal":
                flags[1] = {"pending": True, "permanent": True}
            elif kind == "revert":
                flags[1] = {"confirmed": True}
            else:
                flags[1] = {"pending": True}
        images = []
        for slot in (0, 1):
            facts = self.flash.facts(slot)
            if facts is None:
                continue
            f = flags[slot]
            images.append(
                {
                    "slot": slot,
                    "version": str(facts.version),
                    "hash": facts.tlv_hash,
                    "bootable": facts.bootable,
                    "pending": bool(f.get("pending")),
                    "confirmed": bool(f.get("confirmed")),
                    "active": bool(f.get("active")),
                    "permanent": bool(f.get("permanent")),
                }
            )
        return {"images": images, "splitStatus": 0}

    def _image_state_write(self, body: Any) -> dict[str, Any]:
        req = smpimg.ImageStatesWriteRequest.loads(self._frame)
        if req.hash is None:
            if not req.confirm:
                raise Failure(G.IMAGE_MANAGEMENT, IMG_MGMT_ERR.INVALID_HASH, "test needs a hash")
            slot = 0
        elif len(req.hash) != 32:
            raise Failure(G.IMAGE_MANAGEMENT, IMG_MGMT_ERR.INVALID_HASH, "hash length")
        else:
            found = self.flash.slot_of_hash(bytes(req.hash))
            if found is None:
                raise Failure(G.IMAGE_MANAGEMENT, IMG_MGMT_ERR.HASH_NOT_FOUND, "no such image")
            slot = found
        self.flash.set_next_boot(slot, bool(req.confirm))
        self.counters.writes += 1
        return self._images()

    def _image_erase(self, body: Any) -> dict[str, Any]:
        req = smpimg.ImageEraseRequest.loads(self._frame)
        self.flash.erase(1 if req.slot is None else req.slot)
        self.upload = None
        self.counters.writes += 1
        return {}

    def _image_upload(self, body: Any) -> dict[str, Any]:
        req = smpimg.ImageUploadWriteRequest.loads(self._frame)
        E = IMG_MGMT_ERR

        def fail(code: int, why: str) -> Failure:
            return Failure(G.IMAGE_MANAGEMENT, code, why)

        if req.off == 0:
            if req.len is None:
                raise fail(E.INVALID_LENGTH, "len required")
            if req.image not in (None, 0):
                raise fail(E.INVALID_SLOT, "one image only")
            sha = bytes(req.sha or b"")
            if len(sha) > 32:
                raise fail(E.INVALID_HASH, "sha too long")
            up = self.upload
            if up is not None and sha and up.sha == sha and up.length == req.len and up.off > 0:
                return {"off": up.off}  # resume: the device says where it is
            if len(req.data) < IMAGE_HEADER_SIZE:
                raise fail(E.INVALID_IMAGE_HEADER, "first chunk must hold the header")
            if req.len > self.flash.slot_size:
                raise fail(E.INVALID_IMAGE_TOO_LARGE, "larger than the slot")
            version = version_of(bytes(req.data))
            if version is None:
                raise fail(E.INVALID_IMAGE_HEADER_MAGIC, "not an MCUboot image")
            running = self.flash.facts(0)
            if req.upgrade and running is not None and version.key <= running.version.key:
                raise fail(E.CURRENT_VERSION_IS_NEWER, "not newer than the running image")
            if len(sha) == 32 and self._slot1_holds(sha, req.len):
                return {"off": req.len, "match": True}  # already there (image check)
            self.upload = None
            self.flash.begin_upload()
            self.upload = UploadSession(req.len, sha)
            self.counters.uploads += 1
        up = self.upload
        if up is None or req.off != up.off:
            return {"off": up.off if up is not None else 0}
        if up.off + len(req.data) > up.length:
            self.upload = None
            raise fail(E.INVALID_IMAGE_DATA_OVERRUN, "data beyond len")
        if req.data:
            self.flash.write_upload(up.off, bytes(req.data))
            up.off += len(req.data)
        if up.off < up.length:
            return {"off": up.off}
        self.upload = None
        match = self.flash.finish_upload(up.length, up.sha if len(up.sha) == 32 else None)
        self.counters.writes += 1
        answer: dict[str, Any] = {"off": up.length}
        if len(up.sha) == 32:
            answer["match"] = match
        return answer

    def _slot1_holds(self, sha: bytes, length: int) -> bool:
        current = self.flash.state.images[1]
        return current is not None and current == sha.hex() and not self.flash.state.slot_in_use(1)

    # -- statistics ----------------------------------------------------------------------
    def _stats(self) -> dict[str, dict[str, int]]:
        c = self.counters
        up = max(0, int(time.monotonic() - self.booted_at))
        return {
            "smp_svr_stats": {"ticks": up},
            "smp_link": {
                "rx_frames": c.rx_frames,
                "tx_frames": c.tx_frames,
                "rx_bytes": c.rx_bytes,
                "tx_bytes": c.tx_bytes,
                "errors": c.errors,
            },
            "dfu": {"uploads": c.uploads, "flash_writes": c.writes},
        }

    def _stat_group(self, body: Any) -> dict[str, Any]:
        name = body.get("name")
        groups = self._stats()
        if not isinstance(name, str) or name not in groups:
            raise Failure(G.STATISTICS_MANAGEMENT, STAT_MGMT_ERR.ERR_INVALID_GROUP, "no such group")
        return {"name": name, "fields": groups[name]}

    # -- file system, shell ----------------------------------------------------------------
    def _fs_upload(self, body: Any) -> dict[str, Any]:
        answer = self.fs.upload(body)
        self.counters.writes += 1
        return answer

    def _shell(self, body: Any) -> dict[str, Any]:
        argv = body.get("argv")
        if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
            raise Failure(None, MGMT_ERR.EINVAL, "argv must be a list of strings")
        out, ret = execute(argv, self.shell)
        # Zephyr's dummy backend keeps what fits its buffer; keep what fits ours.
        room = self._room(32)
        data = out.encode()[:room].decode(errors="ignore")
        return {"o": data, "ret": ret}

    # -- enumeration ------------------------------------------------------------------------
    def _enabled(self) -> list[int]:
        return sorted(int(g) for g in self.groups)

    def _enum_single(self, body: Any) -> dict[str, Any]:
        index = body.get("index", 0)
        groups = self._enabled()
        if type(index) is not int or index < 0:
            raise Failure(None, MGMT_ERR.EINVAL, "index")
        if index >= len(groups):
            raise Failure(G.ENUM_MANAGEMENT, ENUM_MGMT_ERR.ENUM_MGMT_ERR_INDEX_TOO_LARGE, "index")
        answer: dict[str, Any] = {"group": groups[index]}
        if index == len(groups) - 1:
            answer["end"] = True
        return answer

    def _enum_details(self, body: Any) -> dict[str, Any]:
        wanted = body.get("groups")
        groups = self._enabled()
        if wanted is not None:
            if not isinstance(wanted, list) or not all(type(g) is int for g in wanted):
                raise Failure(None, MGMT_ERR.EINVAL, "groups")
            groups = [g for g in groups if g in wanted]
        counts: dict[int, int] = {}
        for g, _cmd, _op in self._handlers:
            counts[g] = counts.get(g, 0) + 1
        return {
            "groups": [
                {"group": g, "name": GROUP_NAMES.get(g, str(g)), "handlers": counts.get(g, 0)}
                for g in groups
            ]
        }
