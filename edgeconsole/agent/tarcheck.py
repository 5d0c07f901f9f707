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

This is a push parser over the tar headers only (the full pull reader with every
safety rule is ``bundles``; it runs again on the finished file before the slot
is marked staged, and is told which files' bytes were already hashed here so it
need not hash them again). Anything it does not expect is refused, never guessed.
"""

from __future__ import annotations

import hashlib
import json
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from edgeconsole.agent.ports import FileDigest, ManifestView, VerifyManifest
from edgeconsole.core.errors import BundleError

BLOCK = 512
MAX_MANIFEST_BYTES = 1 << 20
MAX_SIG_BYTES = 64 * 1024
MAX_PAX_BYTES = 64 * 1024

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


def _octal(field: bytes, what: str) -> int:
    if field and field[0] & 0x80:  # GNU base-256 for big sizes
        return int.from_bytes(field[1:], "big")
    text = field.split(b"\0", 1)[0].strip()
    try:
        return int(text, 8) if text else 0
    except ValueError:
        raise UploadRefused(f"tar header field {what} is not a number") from None


@dataclass
class _Member:
    name: str
    size: int
    kind: str  # "manifest", "sig", "pax", "payload"


class StreamChecker:
    """Feed bytes with :meth:`feed`; it raises at the first byte that is wrong."""

    def __init__(self, verify_manifest: VerifyManifest, subject: str) -> None:
        self._verify = verify_manifest
        self.subject = subject
        self.offset = 0  # bytes accepted so far
        self.whole = _OrderedHash("whole")
        self.manifest: ManifestView | None = None
        self._pending = bytearray()  # header / collected-member bytes
        self._member: _Member | None = None
        self._left = 0  # data bytes left in the current member
        self._pad = 0  # padding bytes left after the current member
        self._pax_size: int | None = None
        self._manifest_bytes: bytes | None = None
        self._seen: set[str] = set()
        self._ended = False
        self._zero_headers = 0
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
            if any(view):
                raise UploadRefused("data after the end of the archive", subject=self.subject)
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
        if not any(block):
            self._zero_headers += 1
            if self._zero_headers == 2:
                self._ended = True
                if self.manifest is None or not self._seen >= set(self.manifest.files):
                    raise UploadRefused(
                        "archive ends before every listed file", subject=self.subject
                    )
            return
        if self._zero_headers:
            raise UploadRefused("a lone zero block inside the archive", subject=self.subject)
        stored = _octal(block[148:156], "chksum")
        if sum(block[:148]) + 8 * 32 + sum(block[156:]) != stored:
            raise UploadRefused("tar header checksum is wrong", subject=self.subject)
        typeflag = block[156:157]
        size = _octal(block[124:136], "size")
        if typeflag in (b"x",):
            if size > MAX_PAX_BYTES:
                raise UploadRefused("tar extended header too large", subject=self.subject)
            self._open_member(_Member("", size, "pax"))
            return
        if typeflag not in (b"0", b"\0"):
            raise UploadRefused(
                f"tar member type {typeflag!r} refused (regular files only)", subject=self.subject
            )
        name = block[0:100].split(b"\0", 1)[0]
        prefix = block[345:500].split(b"\0", 1)[0]
        full = (prefix + b"/" + name if prefix else name).decode("utf-8", "replace")
        if self._pax_size is not None:
            size, self._pax_size = self._pax_size, None
        self._begin_file(full, size, end)

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
            try:
                json.loads(data)
            except (UnicodeDecodeError, json.JSONDecodeError):
                raise UploadRefused("manifest.json is not JSON", subject=self.subject) from None
        elif member.kind == "sig":
            assert self._manifest_bytes is not None
            # Signature, trust, hardware id, version and schema: all before any payload.
            self.manifest = self._verify(self._manifest_bytes, data)
        elif member.kind == "pax":
            self._pax_size = _pax_size(data, self.subject)


def _pax_size(data: bytes, subject: str) -> int | None:
    size: int | None = None
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos)
        if space < 0:
            raise UploadRefused("malformed tar extended header", subject=subject)
        try:
            length = int(data[pos:space])
        except ValueError:
            raise UploadRefused("malformed tar extended header", subject=subject) from None
        if length <= 0 or pos + length > len(data):
            raise UploadRefused("malformed tar extended header", subject=subject)
        record = data[space + 1 : pos + length - 1]
        key, _, value = record.partition(b"=")
        if key == b"size":
            try:
                size = int(value)
            except ValueError:
                raise UploadRefused("bad size in tar extended header", subject=subject) from None
        pos += length
    return size
