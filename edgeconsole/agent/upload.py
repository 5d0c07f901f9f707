"""Resumable, hash-identified bundle upload into the inactive slot.

One session at a time, keyed by the SHA-256 of the whole bundle file. The client
asks where to continue (``offset``) and sends bytes from there; each payload piece
is checked against the signed manifest as it lands (:mod:`tarcheck`). The session
(hash, length, slot, offset) is persisted atomically, after the data it vouches
for was fsynced, so an agent restarted after a crash or power cut resumes at the
persisted offset. The running and the confirmed slot are never written: bytes
go to ``upload/<sha>.part`` and are renamed into the inactive slot's directory
only after the full bundle verification passed (a PUT body is written by
``upload_write.UploadWrite``).
"""

from __future__ import annotations

import concurrent.futures
import errno
import hashlib
import json
import os
import shutil
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edgeconsole.agent.errors import (
    AgentRequestError,
    BadRequest,
    Conflict,
    InsufficientStorage,
    NotFound,
    Unprocessable,
)
from edgeconsole.agent.ports import ManifestView, VerifyBundle, VerifyManifest
from edgeconsole.agent.tarcheck import StreamChecker
from edgeconsole.agent.upload_write import UploadWrite
from edgeconsole.core.atomic import atomic_write, stale_temps
from edgeconsole.core.errors import BundleError, EdgeConsoleError
from edgeconsole.core.jsonsafe import loads_bounded
from edgeconsole.core.slots import SlotState, SlotStore

#: Largest bundle the agent accepts (the manifest caps the payload anyway).
MAX_BUNDLE_BYTES = 8 * 1024**3
#: A session without activity for this long may be replaced by another upload.
DEFAULT_IDLE_S = 120.0
_HEX = set("0123456789abcdef")


@dataclass
class UploadSession:
    sha256: str
    length: int
    slot: int
    offset: int
    started: float
    updated: float
    # The sender asked to go below the installed version on purpose (audited).
    allow_downgrade: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _check_sha(sha: str) -> str:
    if len(sha) != 64 or not set(sha) <= _HEX:
        raise BadRequest("an upload is named by the bundle's SHA-256 (64 lowercase hex digits)")
    return sha


class UploadManager:
    """Owns ``<data>/upload``. Methods are blocking; call them from a worker thread."""

    SESSION_FILE = "session.json"

    def __init__(
        self,
        data_dir: Path,
        slots: SlotStore,
        verify_manifest: VerifyManifest,
        verify_bundle: VerifyBundle,
        *,
        reserve_bytes: int = 16 * 1024 * 1024,
        idle_s: float = DEFAULT_IDLE_S,
    ) -> None:
        self.dir = data_dir / "upload"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.slots_dir = data_dir / "slots"
        self.slots = slots
        self.verify_manifest = verify_manifest
        self.verify_bundle = verify_bundle
        self.reserve_bytes = reserve_bytes
        self.idle_s = idle_s
        self._lock = threading.RLock()  # guards session state
        self._writing = threading.Lock()  # one request body at a time
        self._checker: StreamChecker | None = None
        self._last_sync: concurrent.futures.Future[None] | None = None  # of the last request
        self._persisted = 0  # the offset session.json names (synced bytes only)
        self._sync_error: OSError | None = None  # a background fsync that failed
        self.session: UploadSession | None = self._load_session()

    # -- persistence ------------------------------------------------------------
    @property
    def _session_path(self) -> Path:
        return self.dir / self.SESSION_FILE

    def part_path(self, sha: str) -> Path:
        return self.dir / f"{sha}.part"

    def _load_session(self) -> UploadSession | None:
        for tmp in stale_temps(self._session_path):  # of a write cut by a kill
            tmp.unlink(missing_ok=True)
        try:
            raw = loads_bounded(self._session_path.read_bytes()[:4097], max_bytes=4096)
            required = ("sha256", "length", "slot", "offset", "started", "updated")
            session = UploadSession(
                **{k: raw[k] for k in required},
                allow_downgrade=raw.get("allow_downgrade") is True,
            )
            _check_sha(session.sha256)
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError, EdgeConsoleError):
            # A torn or foreign file: the upload restarts from zero, nothing else changes.
            self._session_path.unlink(missing_ok=True)
            return None
        part = self.part_path(session.sha256)
        if not self._table_expects(session):
            # A kill between staging the bundle and clearing the session (or a session
            # whose slot was taken since): the table is the truth, the session is over.
            part.unlink(missing_ok=True)
            self._session_path.unlink(missing_ok=True)
            return None
        size = part.stat().st_size if part.exists() else 0
        if size < session.offset:
            session.offset = 0
        self._persisted = session.offset
        with part.open("ab") as fh:  # bytes after the persisted offset were never vouched for
            fh.truncate(session.offset)
        return session

    def _table_expects(self, session: UploadSession) -> bool:
        """Whether the slot table still has this upload's slot being staged with it."""
        table = self.slots.table
        if not isinstance(session.slot, int) or not 0 <= session.slot < len(table.slots):
            return False
        rec = table.slot(session.slot)
        return rec.state is SlotState.STAGING and rec.sha256 == session.sha256

    def _persist(self, session: UploadSession | None) -> None:
        if session is None:
            self._session_path.unlink(missing_ok=True)
            return
        session.updated = time.time()
        atomic_write(self._session_path, json.dumps(session.to_json()).encode())
        self._persisted = session.offset

    # -- begin / status -----------------------------------------------------------
    def status(self, sha: str) -> dict[str, Any]:
        _check_sha(sha)
        with self._lock:
            s = self.session
            if s is not None and s.sha256 == sha:
                return {
                    "sha256": sha,
                    "length": s.length,
                    "offset": s.offset,
                    "slot": s.slot,
                    "state": "uploading",
                }
        for rec in self.slots.table.slots:
            if (
                rec.sha256 == sha
                and rec.state is not SlotState.STAGING
                and rec.state is not (SlotState.BAD)
            ):
                return {
                    "sha256": sha,
                    "length": rec.length,
                    "offset": rec.length,
                    "slot": rec.index,
                    "state": rec.state.value,
                }
        raise NotFound(f"no upload of bundle {sha[:12]}", hint="start it with POST uploads")

    def installed_version(self) -> int | None:
        """The version of the confirmed (known-good) bundle: nothing lower is staged
        unless the upload asked for a downgrade."""
        table = self.slots.table
        if table.confirmed is None:
            return None
        return table.slot(table.confirmed).version

    def _floor(self, s: UploadSession) -> int | None:
        return None if s.allow_downgrade else self.installed_version()

    def begin(self, sha: str, length: int, *, allow_downgrade: bool = False) -> dict[str, Any]:
        _check_sha(sha)
        if (
            isinstance(length, bool)
            or not isinstance(length, int)
            or not (0 < length <= MAX_BUNDLE_BYTES)
        ):
            raise BadRequest(f"length must be 1..{MAX_BUNDLE_BYTES} bytes")
        with self._lock:
            s = self.session
            if s is not None and s.sha256 == sha:
                if s.length != length:
                    raise Conflict("this bundle hash is being uploaded with another length")
                return self.status(sha)
            table = self.slots.table
            for rec in table.slots:
                if rec.sha256 == sha and rec.state in (
                    SlotState.STAGED,
                    SlotState.TRIAL,
                    SlotState.CONFIRMED,
                ):
                    return self.status(sha)  # already here: nothing to send
            if s is not None:
                idle = time.time() - s.updated
                if self._writing.locked() or idle < self.idle_s:
                    raise Conflict(
                        f"another upload ({s.sha256[:12]}, {s.offset}/{s.length} bytes) is in "
                        "progress",
                        hint="wait for it to finish, or cancel it",
                        upload=s.to_json(),
                    )
                self._discard_locked()
            free = shutil.disk_usage(self.dir).free
            if free < length + self.reserve_bytes:
                raise InsufficientStorage(
                    f"not enough space for the bundle: {length} bytes needed, {free} free "
                    f"(keeping {self.reserve_bytes} in reserve)",
                    subject=str(self.dir),
                    hint="free space on the gateway; the running bundle is untouched",
                )
            slot = table.inactive
            self.slots.apply(lambda t: t.begin_staging(slot, sha, length))
            now = time.time()
            self.session = UploadSession(sha, length, slot, 0, now, now, allow_downgrade)
            self.part_path(sha).unlink(missing_ok=True)
            self.part_path(sha).touch()
            self._checker = None
            self._persist(self.session)
            return self.status(sha)

    def cancel(self, sha: str) -> None:
        _check_sha(sha)
        with self._lock:
            if self.session is None or self.session.sha256 != sha:
                raise NotFound(f"no upload of bundle {sha[:12]}")
            if self._writing.locked():
                raise Conflict("the upload is receiving data; retry when it stops")
            self._discard_locked()

    def _discard_locked(self) -> None:
        s = self.session
        if s is None:
            return
        self.part_path(s.sha256).unlink(missing_ok=True)
        self.slots.apply(lambda t: t.discard_staging(s.slot))
        self.session = None
        self._checker = None
        self._persist(None)

    # -- receiving ---------------------------------------------------------------
    def open_write(self, sha: str, offset: int, timeout: float = 5.0) -> UploadWrite:
        _check_sha(sha)
        if not self._writing.acquire(timeout=timeout):
            raise Conflict(
                "another request is sending data for this upload", hint="retry in a moment"
            )
        try:
            with self._lock:
                s = self.session
                if s is None or s.sha256 != sha:
                    raise NotFound(
                        f"no upload of bundle {sha[:12]}", hint="start it with POST uploads"
                    )
                if not self.part_path(sha).exists():
                    # Never expected (the session ends when its file moves), but if
                    # it happens the upload starts again rather than failing forever.
                    self.part_path(sha).touch()
                    s.offset = self._persisted = 0
                    self._checker = None
                    self._persist(s)
                if offset != s.offset:
                    raise Conflict(
                        f"offset {offset} does not continue the upload",
                        hint=f"send from offset {s.offset}",
                        offset=s.offset,
                    )
                failed = self._sync_error
                if failed is not None:
                    self._roll_back_to_persisted(s)
                    raise self._storage_error(s, failed)
                checker = self._checker
                if checker is None or checker.offset != s.offset:
                    checker = self._rescan(s)
                self._checker = checker
            return UploadWrite(self, s, checker)
        except BaseException:
            self._writing.release()
            raise

    def _roll_back_to_persisted(self, s: UploadSession) -> None:
        """A failed fsync may have lost any byte after the persisted offset: forget
        them (call with ``_lock`` held and no sync queued)."""
        self._sync_error = None
        self._checker = None
        s.offset = min(s.offset, self._persisted)
        with self.part_path(s.sha256).open("ab") as fh:
            fh.truncate(s.offset)

    def _storage_error(self, s: UploadSession, exc: OSError) -> AgentRequestError:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            return InsufficientStorage(
                f"the gateway's disk is full at offset {s.offset} of {s.length}",
                subject=f"bundle {s.sha256[:12]}",
                hint="free space on the gateway and resume; the running bundle is untouched",
                offset=s.offset,
            )
        return InsufficientStorage(
            f"the gateway could not store the bundle ({exc.strerror or exc})",
            subject=f"bundle {s.sha256[:12]}",
            hint="check the gateway's disk and resume; the running bundle is untouched",
            offset=s.offset,
        )

    def _rescan(self, s: UploadSession) -> StreamChecker:
        """Rebuild the checker from the bytes on disk (after a restart or a bad chunk)."""
        floor = self._floor(s)
        checker = StreamChecker(
            lambda m, sig: self.verify_manifest(m, sig, floor), subject=f"bundle {s.sha256[:12]}"
        )
        with self.part_path(s.sha256).open("rb") as fh:
            left = s.offset
            while left:
                block = fh.read(min(left, 1 << 20))
                if not block:
                    break
                checker.feed(block)
                left -= len(block)
        return checker

    def _finish(self, s: UploadSession, checker: StreamChecker) -> dict[str, Any]:
        part = self.part_path(s.sha256)
        if not checker.complete:
            raise self._fail_whole(s, "the bundle ends before its last file")
        if checker.hexdigest() != s.sha256:
            raise self._fail_whole(s, "the received bytes do not hash to the announced SHA-256")
        installed = self.installed_version()
        try:
            # Every payload byte was hashed (chunks and whole files) as it was written:
            # the reader re-checks everything else without hashing those bytes again.
            floor = None if s.allow_downgrade else installed
            manifest = self.verify_bundle(part, checker.file_digests(), floor)
        except BundleError as exc:
            raise self._fail_whole(s, f"bundle refused: {exc}") from exc
        target = self.slots_dir / str(s.slot)

        def staged(t: Any) -> Any:
            t = t.finish_staging(s.slot, s.sha256)
            return t.with_slot(
                t.slot(s.slot), bundle_id=manifest.bundle_id, version=manifest.version
            )

        try:
            target.mkdir(parents=True, exist_ok=True)
            os.replace(part, target / "bundle.ecb")
            _fsync_dir(target)
            self.slots.apply(staged)
        except OSError as exc:
            raise self._storage_error(s, exc) from exc
        finally:
            # Staged or not, the bytes left the part file: this session is over (a
            # session naming a part file that is gone would fail every later request).
            with self._lock:
                self.session = None
                self._checker = None
                self._persist(None)
        return {
            "sha256": s.sha256,
            "length": s.length,
            "offset": s.length,
            "slot": s.slot,
            "state": "staged",
            "bundle_id": manifest.bundle_id,
            "version": manifest.version,
            "name": manifest.name,
            "downgrade_from": installed
            if installed is not None and manifest.version < installed
            else None,
        }

    def _fail_whole(self, s: UploadSession, why: str) -> Unprocessable:
        with self._lock:
            self._discard_locked()
        return Unprocessable(
            why,
            subject=f"bundle {s.sha256[:12]}",
            hint="the upload was discarded; build or copy the bundle again",
        )


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


__all__ = ["ManifestView", "UploadManager", "UploadSession", "UploadWrite", "file_sha256"]
