"""Check an uploading bundle piece by piece against its signed manifest.

A bundle is an uncompressed tar: ``manifest.json``, ``manifest.sig``, then the
payload files. Bytes are fed in arrival order. The two manifest members are
collected (size-capped) and handed to the injected verifier *before* any payload
byte is accepted; each payload file is then hashed in ``chunk_size`` pieces and
every piece compared with its signed hash as soon as it is complete, so a
corrupted chunk is refused at once and the uploader resends from its start.

Three hashes run over the bytes as they arrive: the signed chunk hashes (on the
caller's thread, so a bad chunk is refused before the next one is taken), and on
two helper threads, in order, the whole-archive SHA-256 (the upload's identity)
and each payload file's signed SHA-256. hashlib releases the GIL on large
buffers, so the three run side by side on separate cores.

This is a push parser over the tar headers only. Each header block goes through
the one strict tar-header parser, ``bundles/tarstream.py`` (checksum, magic, octal
digits only, no negative size, pax allowlist, regular files only), the same rules
the bundle reader applies; the full reader runs again on the finished file before
the slot is marked staged, and is told which files' bytes were already hashed here
so it need not hash them again. Anything it does not expect is refused, never
guessed. Every step consumes at least one byte, so no input makes it spin.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from edgeconsole.agent.ports import FileDigest, ManifestView
from edgeconsole.bundles.tarstream import (
    BLOCK,
    end_limit,
    member_of,
    parse_header,
    parse_pax,
    pax_header_size,
)
from edgeconsole.core.errors import BundleError, EdgeConsoleError
from edgeconsole.core.jsonsafe import JSONRefused, loads_bounded

#: ``(manifest_bytes, signature_bytes) -> ManifestView``: the head checks, with the
#: version floor already chosen by the caller.
CheckHead = Callable[[bytes, bytes], ManifestView]
MAX_MANIFEST_BYTES = 1 << 20
MAX_SIG_BYTES = 64 * 1024

# One FIFO thread per hash stream keeps each stream's updates in arrival order.
_pools: dict[str, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def _pool(name: str) -> ThreadPoolExecutor:
    with _pools_lock:
        pool = _pools.get(name)
        if pool is None:
            pool = _pools[name] = ThreadPoolExecutor(1, thread_name_prefix=f"upload-{name}")
        return pool


class _OrderedHash:
    """A SHA-256 fed on a helper thread; :meth:`hexdigest` waits for what was queued."""

    def __init__(self, pool: str) -> None:
        self._h = hashlib.sha256()
        self._pool = _pool(pool)

    def update(self, data: bytes | memoryview) -> None:
        # ``data`` must not change afterwards: callers pass views of immutable bytes.
        self._pool.submit(self._h.update, data)

    def digest_future(self) -> Future[str]:
        return self._pool.submit(self._h.hexdigest)

    def hexdigest(self) -> str:
        return self.digest_future().result()


@dataclass
class _FileHash:
    name: str
    offset: int
    length: int
    expected: str
    digest: Future[str]


class ChunkMismatch(BundleError):
    """A received piece does not match the signed manifest; resend from ``offset``."""

    def __init__(self, what: str, *, offset: int, subject: str | None = None) -> None:
        super().__init__(what, subject=subject, hint=f"resend from offset {offset}")
        self.offset = offset


class UploadRefused(BundleError):
    """The uploaded archive is not an acceptable bundle (nothing is staged)."""


@dataclass
class _Member:
    name: str
    size: int
    kind: str  # "manifest", "sig", "pax", "payload"


class StreamChecker:
    """Feed bytes with :meth:`feed`; it raises at the first byte that is wrong."""

    def __init__(self, verify_manifest: CheckHead, subject: str) -> None:
        self._verify = verify_manifest
        self.subject = subject
        self.offset = 0  # bytes accepted so far
        self.whole = _OrderedHash("whole")
        self.manifest: ManifestView | None = None
        self._pending = bytearray()  # header / collected-member bytes
        self._member: _Member | None = None
        self._left = 0  # data bytes left in the current member
        self._pad = 0  # padding bytes left after the current member
        self._pax: dict[str, str] | None = None  # records of a pax header just read
        self._manifest_bytes: bytes | None = None
        self._seen: set[str] = set()
        self._ended = False
        self._marker: int | None = None  # where the end-of-archive marker starts
        self._chunk = hashlib.sha256()
        self._chunk_fill = 0
        self._chunk_index = 0
        self._chunk_start = 0  # archive offset where the current chunk began
        self._file: _OrderedHash | None = None
        self._file_start = 0  # archive offset of the current payload file's data
        self._files: list[_FileHash] = []
        self._view: memoryview = memoryview(b"")  # the piece being fed
        self._pos = 0  # where in it the current step starts
        self._run: tuple[int, int] | None = None  # payload bytes of it not yet file-hashed

    # -- public -------------------------------------------------------------
    @property
    def complete(self) -> bool:
        """True once the end-of-archive marker was read and every file was seen."""
        return self._ended and self.manifest is not None and self._seen >= set(self.manifest.files)

    @property
    def safe_offset(self) -> int:
        """The last offset from which a resend restarts a piece cleanly."""
        return self._chunk_start if self._member and self._member.kind == "payload" else self.offset

    def feed(self, data: bytes | memoryview) -> None:
        if not isinstance(data, bytes):
            data = bytes(data)  # the helper threads hash it later: it must not change
        view = memoryview(data)
        self._view, self._pos = view, 0
        try:
            while self._pos < len(view):
                used = self._step(view[self._pos :])
                if used <= 0:  # never: but a parser that cannot move on must not spin
                    raise UploadRefused("the archive cannot be parsed", subject=self.subject)
                self.offset += used
                self._pos += used
        finally:
            self._flush_run()
            # Only what the parser accepted counts toward the archive's hash.
            self.whole.update(view[: self._pos])
            self._view = memoryview(b"")

    def hexdigest(self) -> str:
        """SHA-256 of every byte accepted so far (waits for the helper thread)."""
        return self.whole.hexdigest()

    def file_digests(self) -> dict[str, FileDigest]:
        """Each finished payload file as hashed here, after checking it against its
        signed SHA-256 (waits for the helper thread)."""
        out: dict[str, FileDigest] = {}
        for f in self._files:
            got = f.digest.result()
            if f.expected and got != f.expected:
                raise UploadRefused(
                    f"{f.name} does not match its signed SHA-256", subject=self.subject
                )
            out[f.name] = FileDigest(f.offset, f.length, got)
        return out

    def _flush_run(self) -> None:
        if self._run is not None and self._file is not None:
            a, b = self._run
            self._file.update(self._view[a:b])
        self._run = None

    # -- the state machine ----------------------------------------------------
    def _step(self, view: memoryview) -> int:
        if self._pad:
            n = min(self._pad, len(view))
            if any(view[:n]):
                raise UploadRefused("tar padding is not zero", subject=self.subject)
            self._pad -= n
            return n
        if self._member is not None:
            return self._member_bytes(view)
        if self._ended:
            assert self._marker is not None
            limit = end_limit(self._marker)
            if self.offset + len(view) > limit or any(view):
                raise UploadRefused(
                    f"data after the end of the archive (it ends at byte {limit})",
                    subject=self.subject,
                    hint="something was appended to the bundle; send the original file",
                )
            return len(view)
        need = BLOCK - len(self._pending)
        n = min(need, len(view))
        self._pending += view[:n]
        if len(self._pending) == BLOCK:
            header = bytes(self._pending)
            self._pending.clear()
            self._header(header, self.offset + n)
        return n

    def _header(self, block: bytes, end: int) -> None:
        try:
            header = parse_header(block, self.subject)
        except BundleError as exc:
            raise UploadRefused(exc.what, subject=self.subject, hint=exc.hint) from None
        if header is None:  # a zero block: the end-of-archive marker
            if self._marker is None:
                if self._pax is not None:
                    raise UploadRefused("pax header not followed by a member", subject=self.subject)
                self._marker = end - BLOCK
                return
            self._ended = True
            if self.manifest is None or not self._seen >= set(self.manifest.files):
                raise UploadRefused("archive ends before every listed file", subject=self.subject)
            return
        if self._marker is not None:
            raise UploadRefused("a lone zero block inside the archive", subject=self.subject)
        try:
            if header.is_pax:
                size = pax_header_size(header, self._pax is not None, self.subject)
                self._open_member(_Member("", size, "pax"))
                return
            name, size = member_of(header, self._pax or {}, self.subject)
        except BundleError as exc:
            raise UploadRefused(exc.what, subject=self.subject, hint=exc.hint) from None
        self._pax = None
        self._begin_file(name, size, end)

    def _begin_file(self, name: str, size: int, data_start: int) -> None:
        order = len(self._seen)
        if name in self._seen:
            raise UploadRefused(f"member {name!r} appears twice", subject=self.subject)
        if order == 0:
            if name != "manifest.json" or size > MAX_MANIFEST_BYTES:
                raise UploadRefused(
                    "first member must be manifest.json (at most 1 MiB)", subject=self.subject
                )
            self._open_member(_Member(name, size, "manifest"))
        elif order == 1:
            if name != "manifest.sig" or size > MAX_SIG_BYTES:
                raise UploadRefused("second member must be manifest.sig", subject=self.subject)
            self._open_member(_Member(name, size, "sig"))
        else:
            assert self.manifest is not None
            entry = self.manifest.files.get(name)
            if entry is None:
                raise UploadRefused(
                    f"member {name!r} is not in the signed manifest", subject=self.subject
                )
            if size != entry.length:
                raise UploadRefused(
                    f"member {name!r} is {size} bytes, the manifest says {entry.length}",
                    subject=self.subject,
                )
            self._chunk = hashlib.sha256()
            self._chunk_fill = 0
            self._chunk_index = 0
            self._chunk_start = data_start
            self._file = _OrderedHash("files")
            self._file_start = data_start
            self._open_member(_Member(name, size, "payload"))
        self._seen.add(name)

    def _open_member(self, member: _Member) -> None:
        self._member = member
        self._left = member.size
        if member.size == 0:
            self._close_member()

    def _member_bytes(self, view: memoryview) -> int:
        member = self._member
        assert member is not None
        if member.kind == "payload":
            return self._payload_bytes(view)
        n = min(self._left, len(view))
        self._pending += view[:n]
        self._left -= n
        if self._left == 0:
            self._close_member()
        return n

    def _payload_bytes(self, view: memoryview) -> int:
        assert self.manifest is not None and self._member is not None
        size = self.manifest.chunk_size
        n = min(self._left, len(view), size - self._chunk_fill)
        self._chunk.update(view[:n])
        a = self._pos if self._run is None else self._run[0]
        self._run = (a, self._pos + n)
        self._chunk_fill += n
        self._left -= n
        if self._chunk_fill == size or self._left == 0:
            expected = self.manifest.files[self._member.name].chunks[self._chunk_index]
            if self._chunk.hexdigest() != expected:
                raise ChunkMismatch(
                    f"chunk {self._chunk_index} of {self._member.name} does not match the "
                    "signed manifest",
                    offset=self._chunk_start,
                    subject=self.subject,
                )
            self._chunk_index += 1
            self._chunk = hashlib.sha256()
            self._chunk_fill = 0
            self._chunk_start = self.offset + n
        if self._left == 0:
            self._close_member()
        return n

    def _close_member(self) -> None:
        member = self._member
        assert member is not None
        self._member = None
        self._pad = -member.size % BLOCK
        if member.kind == "payload" and self._file is not None:
            self._flush_run()
            assert self.manifest is not None
            self._files.append(
                _FileHash(
                    member.name,
                    self._file_start,
                    member.size,
                    self.manifest.files[member.name].sha256,
                    self._file.digest_future(),
                )
            )
            self._file = None
        data = bytes(self._pending)
        self._pending.clear()
        if member.kind == "manifest":
            self._manifest_bytes = data
            try:  # bounded depth: a hostile manifest cannot blow the parser's stack
                loads_bounded(data, max_bytes=MAX_MANIFEST_BYTES, what="manifest.json")
            except JSONRefused as exc:
                raise UploadRefused(exc.what, subject=self.subject) from None
        elif member.kind == "sig":
            assert self._manifest_bytes is not None
            # Signature, trust, hardware id, version and schema: all before any payload.
            self.manifest = self._verify(self._manifest_bytes, data)
        elif member.kind == "pax":
            try:
                self._pax = parse_pax(data, self.subject)
            except EdgeConsoleError as exc:
                raise UploadRefused(exc.what, subject=self.subject) from None
