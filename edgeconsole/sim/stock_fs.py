"""The stock virtual device's file system group (MCUmgr fs_mgmt), on a host folder.

One mount point, ``/lfs1`` (Zephyr's LittleFS sample), mapped onto
``<data_dir>/fs``. Names are checked before they touch the host: absolute, at
most ``PATH_LEN`` bytes, under the mount point, no empty, ``.`` or ``..``
component, no NUL or backslash; a name that fails is ``FILE_INVALID_NAME``,
never a path outside the folder. Upload follows Zephyr's ``fs_mgmt.c``:
offset 0 carries the total ``len`` and truncates; a later offset must equal
the file's current size (so a client resumes after a cut by asking the
status and hash of what is there), else ``FILE_OFFSET_NOT_VALID`` with the
device's ``len``. Writes beyond ``capacity`` bytes in all fail as a full disk.
"""

from __future__ import annotations

import hashlib
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smp.error import MGMT_ERR
from smp.file_management import FS_MGMT_ERR

MOUNT = "/lfs1"
PATH_LEN = 64  # CONFIG_MCUMGR_GRP_FS_PATH_LEN
MAX_HASH_BYTES = 64 * 1024 * 1024


class FsFailure(Exception):
    def __init__(self, rc: int, reason: str, *, general: bool = False, **extra: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.rc = rc
        self.general = general  # a general MGMT_ERR code, not the group's own
        self.extra = extra


@dataclass
class _Upload:
    path: str
    length: int
    off: int


class SimFileSystem:
    def __init__(self, root: Path, *, capacity: int = 16 * 1024 * 1024) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.capacity = capacity
        self._upload: _Upload | None = None  # RAM: a reset forgets it, as on the device

    def reset(self) -> None:
        self._upload = None

    # -- names ---------------------------------------------------------------------
    def host_path(self, name: object) -> Path:
        if not isinstance(name, str) or not name or len(name.encode()) > PATH_LEN:
            raise FsFailure(MGMT_ERR.EINVAL, "name missing or too long", general=True)
        if "\0" in name or "\\" in name or not name.startswith("/"):
            raise FsFailure(FS_MGMT_ERR.FILE_INVALID_NAME, "invalid name")
        parts = name.split("/")[1:]
        if not parts or "/" + parts[0] != MOUNT:
            raise FsFailure(FS_MGMT_ERR.MOUNT_POINT_NOT_FOUND, "no such mount point")
        rest = parts[1:]
        if any(p in ("", ".", "..") for p in rest):
            raise FsFailure(FS_MGMT_ERR.FILE_INVALID_NAME, "invalid name")
        return self.root.joinpath(*rest)

    def _size(self, path: Path) -> int:
        if path == self.root or path.is_dir():
            raise FsFailure(FS_MGMT_ERR.FILE_IS_DIRECTORY, "is a directory")
        try:
            return path.stat().st_size
        except FileNotFoundError:
            raise FsFailure(FS_MGMT_ERR.FILE_NOT_FOUND, "no such file") from None

    def used(self) -> int:
        return sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file())

    # -- handlers --------------------------------------------------------------------
    def upload(self, body: dict[str, Any]) -> dict[str, Any]:
        off, name, data, length = (
            body.get("off"),
            body.get("name"),
            body.get("data"),
            body.get("len"),
        )
        if type(off) is not int or off < 0 or not isinstance(data, bytes):
            raise FsFailure(MGMT_ERR.EINVAL, "off and data required", general=True)
        if off == 0 and (type(length) is not int or length < 0):
            raise FsFailure(MGMT_ERR.EINVAL, "len required at off 0", general=True)
        path = self.host_path(name)
        if not path.parent.is_dir():
            raise FsFailure(FS_MGMT_ERR.FILE_NOT_FOUND, "no such directory")
        if path.is_dir():
            raise FsFailure(FS_MGMT_ERR.FILE_IS_DIRECTORY, "is a directory")
        up = self._upload
        if up is None or up.path != name:
            up = _Upload(str(name), -1, 0 if off == 0 else self._size(path))
        if off == 0:
            assert isinstance(length, int)
            up = _Upload(str(name), length, 0)
            if length - self._existing(path) > self.capacity - self.used():
                raise FsFailure(FS_MGMT_ERR.FILE_WRITE_FAILED, "no space left")
            with path.open("wb"):
                pass  # truncate, as Zephyr does at offset 0
        elif off != up.off:
            self._upload = None
            raise FsFailure(FS_MGMT_ERR.FILE_OFFSET_NOT_VALID, "offset mismatch", len=up.off)
        if data:
            if len(data) > self.capacity - self.used():
                self._upload = None
                raise FsFailure(FS_MGMT_ERR.FILE_WRITE_FAILED, "no space left")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                os.pwrite(fd, data, off)
                if up.length >= 0 and off + len(data) >= up.length:
                    os.fsync(fd)  # the file is closed (and durable) at its last byte
            finally:
                os.close(fd)
            up.off = off + len(data)
        self._upload = None if up.length >= 0 and up.off >= up.length else up
        return {"off": up.off}

    @staticmethod
    def _existing(path: Path) -> int:
        try:
            return path.stat().st_size
        except OSError:
            return 0

    def download(self, body: dict[str, Any], room: int) -> dict[str, Any]:
        off = body.get("off")
        if type(off) is not int or off < 0:
            raise FsFailure(MGMT_ERR.EINVAL, "off required", general=True)
        path = self.host_path(body.get("name"))
        size = self._size(path)
        if off > size:
            raise FsFailure(FS_MGMT_ERR.FILE_OFFSET_LARGER_THAN_FILE, "offset past the end")
        with path.open("rb") as fh:
            fh.seek(off)
            data = fh.read(max(1, room))
        answer: dict[str, Any] = {"off": off, "data": data}
        if off == 0:
            answer["len"] = size
        return answer

    def status(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"len": self._size(self.host_path(body.get("name")))}

    def hash(self, body: dict[str, Any]) -> dict[str, Any]:
        kind = body.get("type", "sha256")
        off = body.get("off", 0)
        limit = body.get("len")
        if (
            type(off) is not int
            or off < 0
            or (limit is not None and (type(limit) is not int or limit <= 0))
        ):
            raise FsFailure(MGMT_ERR.EINVAL, "bad off/len", general=True)
        if kind not in ("sha256", "crc32"):
            raise FsFailure(FS_MGMT_ERR.CHECKSUM_HASH_NOT_FOUND, "unknown hash type")
        path = self.host_path(body.get("name"))
        size = self._size(path)
        if size <= off:
            raise FsFailure(
                FS_MGMT_ERR.FILE_EMPTY if size == 0 else FS_MGMT_ERR.FILE_OFFSET_LARGER_THAN_FILE,
                "nothing to hash",
            )
        count = min(size - off, limit if limit is not None else size, MAX_HASH_BYTES)
        sha = hashlib.sha256()
        crc = 0
        with path.open("rb") as fh:
            fh.seek(off)
            left = count
            while left:
                block = fh.read(min(left, 1 << 20))
                if not block:
                    break
                left -= len(block)
                sha.update(block)
                crc = zlib.crc32(block, crc)
        answer: dict[str, Any] = {"type": kind, "len": count - left}
        if off:
            answer["off"] = off
        answer["output"] = sha.digest() if kind == "sha256" else crc
        return answer

    @staticmethod
    def supported() -> dict[str, Any]:
        return {"types": {"crc32": {"format": 0, "size": 4}, "sha256": {"format": 1, "size": 32}}}

    def close(self) -> dict[str, Any]:
        self._upload = None
        return {}

    # -- for the shell ----------------------------------------------------------------
    def listing(self, name: str) -> list[tuple[str, int | None]]:
        path = self.host_path(name.rstrip("/") or MOUNT) if name != MOUNT else self.root
        if not path.is_dir():
            raise FsFailure(FS_MGMT_ERR.FILE_NOT_FOUND, "no such directory")
        return [
            (p.name + ("/" if p.is_dir() else ""), None if p.is_dir() else p.stat().st_size)
            for p in sorted(path.iterdir())
        ]
