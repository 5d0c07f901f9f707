"""Files on a stock MCUmgr device: put and get with resume and a hash check.

Put: the device's file status says how much of the file is there; when the
device can hash it, the hash of that prefix is compared with the local bytes,
and a matching prefix is kept (the upload resumes at its end, as Zephyr's
``fs_mgmt`` accepts an offset equal to the file's size). A cut cable, a lost
frame or a device reboot costs a resume, not the transfer. At the end the
device hashes the whole file (SHA-256, else CRC32) and it must match, else
the transfer is refused as corrupt. Without a hash command the file is read
back and compared.

Get: the bytes go to ``DEST.part`` (kept across a cut: the next get resumes
there, after checking the prefix against the device's hash), and become
``DEST`` by an atomic rename only once the whole file's hash matched.
"""

from __future__ import annotations

import hashlib
import os
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smpclient.generics import error, success
from smpclient.requests.file_management import FileDownload, FileHashChecksum, FileStatus

from edgeconsole.core.errors import ConfigError, DeviceDisconnected, DeviceError
from edgeconsole.devices.serial import smp_errors
from edgeconsole.devices.serial.flash import RateMeter
from edgeconsole.devices.serial.mcumgr import FileUploadResume
from edgeconsole.devices.serial.pipeline import Resync, chunk, send_chunks, window_for
from edgeconsole.devices.target import FlashProgress, ProgressFn

if TYPE_CHECKING:
    from edgeconsole.devices.serial.stock import StockTarget

MAX_RETRIES = 50
#: A path on the device (Zephyr's CONFIG_MCUMGR_GRP_FS_PATH_LEN is 64 by default).
MAX_PATH = 255
FS = 8
FILE_NOT_FOUND = 3
FILE_OFFSET_NOT_VALID = 11
MAX_GET_BYTES = 256 * 1024 * 1024
FAILING = "send it again; if it persists, the device's file system may be full or failing"


@dataclass(frozen=True)
class DeviceHash:
    kind: str  # sha256, crc32 or read-back
    value: str  # hex (sha256), 8 hex digits (crc32)
    length: int

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class FileTransfer:
    remote: str
    size: int
    sha256: str  # of the local bytes
    device_hash: DeviceHash | None
    resumed_from: int
    resumes: int
    seconds: float
    bytes_per_s: float

    def to_json(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["device_hash"] = self.device_hash.to_json() if self.device_hash else None
        out["seconds"] = round(self.seconds, 3)
        out["bytes_per_s"] = round(self.bytes_per_s, 1)
        return out


def check_remote(path: str) -> str:
    """A device path: absolute, printable, no ``..`` (checked before it is sent)."""
    if not path.startswith("/") or len(path.encode()) > MAX_PATH:
        raise ConfigError(
            f"device path {path!r} must be absolute and at most {MAX_PATH} bytes",
            hint="e.g. /lfs1/model.onnx",
        )
    if any(ord(c) < 32 for c in path) or "/../" in path + "/" or path.endswith("/"):
        raise ConfigError(f"device path {path!r} is not a file name", hint="e.g. /lfs1/model.onnx")
    return path


def _local_hash(kind: str, data: bytes) -> str:
    if kind == "sha256":
        return hashlib.sha256(data).hexdigest()
    return f"{zlib.crc32(data) & 0xFFFFFFFF:08x}"


def device_size(target: StockTarget, remote: str) -> int | None:
    """The file's size on the device, None when it does not exist."""
    answer = target.ask(FileStatus(name=remote))
    if success(answer):
        return int(answer.len)
    code = _code(answer)
    if code == (FS, FILE_NOT_FOUND):
        return None
    raise target.refused(f"file status of {remote}", answer)


def device_hash(target: StockTarget, remote: str, length: int | None = None) -> DeviceHash | None:
    """The device's hash of the file (or its first ``length`` bytes); None when the
    device cannot hash files. Hashing a large file takes the device a while."""
    kinds = target.capabilities().hash_types
    kind = "sha256" if "sha256" in kinds else "crc32" if "crc32" in kinds else None
    if kind is None:
        return None
    req = FileHashChecksum(name=remote, type=kind, len=length)  # type: ignore[arg-type]
    answer = target.request(req, timeout_s=max(target.timeout_s, 30.0))
    out = answer.output
    value = bytes(out).hex() if isinstance(out, bytes | bytearray) else f"{int(out):08x}"
    return DeviceHash(kind, value, int(answer.len))


def _code(answer: Any) -> tuple[int | None, int] | None:
    code = smp_errors.code_of(answer)
    return (code.group, code.rc) if code is not None else None


def _resume_point(target: StockTarget, remote: str, data: bytes) -> int:
    """Where a put can continue: the end of a prefix the device holds intact, else 0."""
    size = device_size(target, remote)
    if not size or size > len(data):
        return 0
    held = device_hash(target, remote, size)
    if held is None or held.length != size:
        return 0  # cannot prove the prefix: start over (offset 0 truncates)
    return size if held.value == _local_hash(held.kind, data[:size]) else 0


def put_file(
    target: StockTarget,
    data: bytes,
    remote: str,
    progress: ProgressFn | None = None,
    *,
    resume: bool = True,
    reconnect_timeout_s: float = 15.0,
) -> FileTransfer:
    """Write ``data`` to ``remote`` on the device and prove it arrived intact."""
    target.require("fs")
    check_remote(remote)
    total = len(data)
    t0 = time.perf_counter()
    meter = RateMeter()
    resumes = 0
    start = _resume_point(target, remote, data) if resume and total else 0
    off = start
    client = target.client
    if off == total and total:
        pass  # already there, whole: the final check below proves it
    else:
        off, resumes = _send(
            target, client, data, remote, off, progress, meter, reconnect_timeout_s
        )
    if progress is not None:
        progress(FlashProgress(total, total, meter.add(total), 0.0, resumes, "verify"))
    final = _verify_put(target, remote, data)
    seconds = time.perf_counter() - t0
    sent = total - start
    return FileTransfer(
        remote,
        total,
        hashlib.sha256(data).hexdigest(),
        final,
        start,
        resumes,
        seconds,
        sent / seconds if seconds > 0 else 0.0,
    )


def _send(
    target: StockTarget,
    client: Any,
    data: bytes,
    remote: str,
    off: int,
    progress: ProgressFn | None,
    meter: RateMeter,
    reconnect_timeout_s: float,
) -> tuple[int, int]:
    """Send from ``off`` to the end (chunks pipelined when the device has the buffers);
    returns (offset reached, resumes)."""
    total = len(data)
    resumes = 0
    window = window_for(target.link.buf_count)

    def make(at: int) -> Any:
        return chunk(
            client, FileUploadResume, at, data, name=remote, len=total if at == 0 else None
        )

    def report(at: int) -> None:
        if progress is not None:
            rate = meter.add(at)
            progress(FlashProgress(at, total, rate, (total - at) / rate if rate else None, resumes))

    async def go(at: int) -> None:
        if total == 0:  # an empty file: one request creates (truncates) it
            answer = await client.request(make(0), target.timeout_s)
            if error(answer):
                raise Resync(None, answer)
            return
        await send_chunks(
            client,
            target.transport,
            start=at,
            total=total,
            make=make,
            window=window,
            timeout_s=target.timeout_s,
            progress=report,
        )

    for _attempt in range(MAX_RETRIES):
        try:
            target.io.run(go(off))
            return total, resumes
        except DeviceDisconnected:
            target.link.reconnect(reconnect_timeout_s)
        except TimeoutError:
            pass  # a lost frame: the device's size and hash say what landed
        except Resync as stop:
            answer = stop.answer
            if answer is not None and _code(answer) != (FS, FILE_OFFSET_NOT_VALID):
                raise target.refused(f"writing {remote}", answer) from None
        resumes += 1
        off = _resume_point(target, remote, data)
    raise DeviceError(
        f"file upload did not finish after {MAX_RETRIES} retries",
        subject=target.address.path,
        hint="the link is too unreliable; check the cable",
    )


def _verify_put(target: StockTarget, remote: str, data: bytes) -> DeviceHash:
    held = device_hash(target, remote) if data else None
    if held is None:
        back = get_bytes(target, remote)
        if back != data:
            raise DeviceError(
                f"the device's copy of {remote} differs from what was sent",
                subject=target.address.path,
                hint=FAILING,
            )
        return DeviceHash("read-back", hashlib.sha256(back).hexdigest(), len(back))
    want = _local_hash(held.kind, data)
    if held.length != len(data) or held.value != want:
        raise DeviceError(
            f"the device's {held.kind} of {remote} ({held.value[:16]}, {held.length} B) does not "
            f"match the file ({want[:16]}, {len(data)} B)",
            subject=target.address.path,
            hint=FAILING,
        )
    return held


def get_bytes(
    target: StockTarget, remote: str, progress: ProgressFn | None = None, start: bytes = b""
) -> bytes:
    """The file's bytes from the device (continuing after ``start``)."""
    target.require("fs")
    check_remote(remote)
    buf = bytearray(start)
    total: int | None = None
    meter = RateMeter()
    retries = 0
    while total is None or len(buf) < total:
        try:
            answer = target.ask(FileDownload(off=len(buf), name=remote))
        except DeviceError:
            retries += 1
            if retries > MAX_RETRIES:
                raise
            if not target.transport.connected:
                target.link.reconnect(15.0)
            continue
        if error(answer):
            raise target.refused(f"reading {remote}", answer)
        if answer.off != len(buf):
            raise DeviceError(
                f"the device answered offset {answer.off} for {len(buf)}", subject=remote
            )
        if answer.len is not None:
            total = int(answer.len)
            if total > MAX_GET_BYTES:
                raise DeviceError(f"{remote} is {total} B: too large to fetch", subject=remote)
        elif total is None:
            total = device_size(target, remote) or 0
        if not answer.data and len(buf) < total:
            raise DeviceError(f"the device sent no data at offset {len(buf)}", subject=remote)
        buf += answer.data
        if progress is not None and total:
            rate = meter.add(len(buf))
            progress(FlashProgress(len(buf), total, rate, None, retries))
        if len(buf) > total:
            raise DeviceError(f"the device sent more than {total} B", subject=remote)
    return bytes(buf)


def get_file(
    target: StockTarget,
    remote: str,
    dest: Path,
    progress: ProgressFn | None = None,
    *,
    resume: bool = True,
) -> FileTransfer:
    """Fetch ``remote`` into ``dest`` (atomically, after the hash matched)."""
    check_remote(remote)
    t0 = time.perf_counter()
    part = dest.with_name(dest.name + ".part")
    start = b""
    if resume and part.is_file():
        start = part.read_bytes()
        if start:
            held = device_hash(target, remote, len(start))
            if held is None or held.value != _local_hash(held.kind, start):
                start = b""  # the device's file changed since: fetch it again
    data = get_bytes(target, remote, progress, start)
    with part.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    held = device_hash(target, remote)
    if held is not None and (
        held.value != _local_hash(held.kind, data) or held.length != len(data)
    ):
        raise DeviceError(
            f"the copy of {remote} does not match the device's {held.kind}",
            subject=target.address.path,
            hint="fetch it again (the file may have changed while it was read)",
        )
    os.replace(part, dest)
    seconds = time.perf_counter() - t0
    return FileTransfer(
        remote,
        len(data),
        hashlib.sha256(data).hexdigest(),
        held,
        len(start),
        0,
        seconds,
        (len(data) - len(start)) / seconds if seconds > 0 else 0.0,
    )
