"""One PUT body being written into an upload's part file (see ``upload.py``).

Bytes go to the part file with ``os.pwritev`` at the session offset while the
checker (``tarcheck``) checks the same bytes; fsync and the persisted offset run on
a FIFO helper thread so the next piece need not wait for the disk. The persisted
offset only ever names bytes that were synced before it.
"""

from __future__ import annotations

import concurrent.futures
import errno
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from edgeconsole.agent.errors import BadRequest, InsufficientStorage, Unprocessable
from edgeconsole.agent.tarcheck import ChunkMismatch, StreamChecker
from edgeconsole.core.errors import BundleError, EdgeConsoleError

if TYPE_CHECKING:
    from edgeconsole.agent.upload import UploadManager, UploadSession

#: Persist the offset at least this often within one long request body.
PERSIST_EVERY = 16 * 1024 * 1024


class UploadWrite:
    """One request body being written; use as a context manager and call :meth:`write`.

    Bytes go to the part file with ``os.pwritev`` at the session offset, straight from
    the pieces the HTTP server received (no joined copy, no user-space buffer). Every
    ``PERSIST_EVERY`` bytes, and when the request ends, the file is fsynced and the
    offset persisted on the FIFO sync thread, so writing and checking go on
    meanwhile (and the next request need not wait for the disk); the persisted offset
    only ever names bytes that were synced before it.
    """

    def __init__(
        self, manager: UploadManager, session: UploadSession, checker: StreamChecker
    ) -> None:
        self.m = manager
        self.s = session
        self.checker = checker
        self.fd = os.open(manager.part_path(session.sha256), os.O_WRONLY)
        self._since_persist = 0
        # The previous request's last sync may still run: the first sync of this
        # one waits for it (one sync at a time, whatever the request sizes).
        self._syncing: concurrent.futures.Future[None] | None = manager._last_sync
        self._queued = -1  # the offset of the newest sync queued by this request
        self.result: dict[str, Any] | None = None
        self.error: EdgeConsoleError | None = None

    def __enter__(self) -> UploadWrite:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            # The last sync of this request runs behind the answer; it owns the fd
            # from here on and closes it. A finished upload was synced already.
            fd, self.fd = self.fd, -1
            self._syncing = None
            if self.result is None and self._queued != self.s.offset:
                self.m._last_sync = _pool("sync").submit(self._sync_offset, self.s.offset, fd, True)
            elif self.result is None:
                self.m._last_sync = _pool("sync").submit(os.close, fd)
            else:
                os.close(fd)
        finally:
            self.m._writing.release()

    def write(self, data: bytes | Sequence[bytes]) -> None:
        """Write and check one piece, or several consecutive pieces at once."""
        if self.error is not None:
            raise self.error  # a queued piece after a refused one is never written
        pieces = [data] if isinstance(data, bytes) else list(data)
        try:
            self._write(pieces)
        except EdgeConsoleError as exc:
            self.error = exc
            raise

    def _pwrite_all(self, pieces: list[bytes], offset: int) -> None:
        views = [memoryview(p) for p in pieces if len(p)]
        while views:
            n = os.pwritev(self.fd, views[:_IOV_MAX], offset)
            offset += n
            while views and n >= len(views[0]):  # drop what went out, keep the rest
                n -= len(views[0])
                views.pop(0)
            if n:
                views[0] = views[0][n:]

    def _write(self, pieces: list[bytes]) -> None:
        s = self.s
        size = sum(len(p) for p in pieces)
        if s.offset + size > s.length:
            raise BadRequest(f"more bytes than the announced length {s.length}", offset=s.offset)
        # The disk write runs on its own thread while this one checks the chunk
        # hashes of the same bytes; a refused chunk is cut off again below.
        writing = _pool("write").submit(self._pwrite_all, pieces, s.offset)
        fault: BundleError | None = None
        try:
            for piece in pieces:
                self.checker.feed(piece)
        except BundleError as exc:
            fault = exc
        try:
            writing.result()
        except OSError as exc:
            self.m._checker = None  # it saw bytes the disk did not take: rebuilt from disk
            try:  # drop the partial write; the offset stays where the data is whole
                os.ftruncate(self.fd, s.offset)
            except OSError:
                pass
            if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
                raise InsufficientStorage(
                    f"the gateway's disk is full at offset {s.offset} of {s.length}",
                    subject=f"bundle {s.sha256[:12]}",
                    hint="free space on the gateway and resume; the running bundle is untouched",
                    offset=s.offset,
                ) from exc
            raise
        if isinstance(fault, ChunkMismatch):
            self._wait_sync()
            os.ftruncate(self.fd, fault.offset)
            s.offset = fault.offset
            self.m._checker = None  # rebuilt from disk on the next request
            raise Unprocessable(str(fault), offset=fault.offset) from fault
        if fault is not None:
            self._wait_sync()
            with self.m._lock:
                self.m._discard_locked()
            raise Unprocessable(
                f"bundle refused: {fault}",
                subject=f"bundle {s.sha256[:12]}",
                hint="nothing was staged",
            ) from fault
        s.offset += size
        self._since_persist += size
        if self._since_persist >= PERSIST_EVERY:
            self._since_persist = 0
            self._sync_in_background()

    def _wait_sync(self) -> None:
        """Wait for every sync queued so far, this request's and earlier ones'.

        Needed before the file is cut shorter: a queued sync must not persist an
        offset beyond the new end."""
        _pool("sync").submit(_nothing).result()
        self._syncing = None

    def _sync_in_background(self) -> None:
        # One sync at a time: if the last one is still running, this one waits for it
        # (the disk sets the pace, as it would for a synchronous fsync).
        if self._syncing is not None:
            self._syncing.result()
        self._queued = self.s.offset
        self._syncing = _pool("sync").submit(self._sync_offset, self.s.offset, self.fd, False)

    def _sync_offset(self, offset: int, fd: int, close: bool) -> None:
        """fsync, then persist ``offset`` (all bytes below it are on disk now)."""
        try:
            try:
                os.fsync(fd)
            except OSError as exc:
                # The offset stays at the last vouched-for value; the bytes after it
                # are written again (the next request or the finish rolls back).
                self.m._sync_error = exc
                return
            with self.m._lock:
                if self.m._sync_error is not None:
                    return  # an earlier fsync failed: synced-now proves nothing before it
                if self.m.session is not self.s or offset > self.s.offset:
                    return  # discarded, or cut shorter (a refused chunk) meanwhile
                # A copy: the writer thread keeps moving ``s.offset`` on meanwhile.
                self.m._persist(replace(self.s, offset=offset))
                self.s.updated = time.time()
        finally:
            if close:
                os.close(fd)

    def finish_if_complete(self) -> dict[str, Any] | None:
        if self.s.offset != self.s.length:
            return None
        # Every byte on disk before the file is renamed into its slot. The offset is
        # not persisted again: the session ends here, and the one on disk still
        # names synced bytes if the agent dies before it does.
        self._wait_sync()
        try:
            os.fsync(self.fd)
        except OSError as exc:
            self.m._sync_error = exc
        with self.m._lock:
            failed = self.m._sync_error
            if failed is not None:
                self.m._roll_back_to_persisted(self.s)
                raise self.m._storage_error(self.s, failed)
        self.result = self.m._finish(self.s, self.checker)
        return self.result


def _nothing() -> None:
    return None


#: Most pieces one pwritev call takes (Linux IOV_MAX).
_IOV_MAX = 1024


_pools: dict[str, concurrent.futures.ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def _pool(name: str) -> concurrent.futures.ThreadPoolExecutor:
    """One FIFO helper thread per job kind (disk writes, fsync + persist)."""
    with _pools_lock:
        pool = _pools.get(name)
        if pool is None:
            pool = _pools[name] = concurrent.futures.ThreadPoolExecutor(
                1, thread_name_prefix=f"upload-{name}"
            )
        return pool
