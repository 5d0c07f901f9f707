"""Write a bundle archive: manifest.json, manifest.sig, then the listed files.

Uses :mod:`tarfile` in POSIX (pax) format, which writes plain ustar headers and
adds a pax header only where ustar cannot hold a value (a size of 8 GiB or more),
so sizes are 64-bit. Metadata is fixed (mode 0644, owner 0, one mtime) so the
same inputs give the same bytes. The file appears only when complete (temp file,
fsync, rename).
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

from edgeconsole.bundles.errors import BundleFormatError
from edgeconsole.bundles.manifest import FileEntry
from edgeconsole.bundles.names import MANIFEST_NAME, SIGNATURE_NAME

Source = Path | bytes
_READ = 1 << 20


def _open_source(src: Source) -> BinaryIO:
    return io.BytesIO(src) if isinstance(src, bytes) else src.open("rb")


def source_length(src: Source) -> int:
    return len(src) if isinstance(src, bytes) else src.stat().st_size


def hash_source(name: str, src: Source, chunk_size: int) -> FileEntry:
    """Length, SHA-256 and per-chunk SHA-256 of one payload file."""
    whole = hashlib.sha256()
    chunks: list[str] = []
    length = 0
    with _open_source(src) as f:
        while True:
            piece = f.read(chunk_size)
            if not piece:
                break
            whole.update(piece)
            chunks.append(hashlib.sha256(piece).hexdigest())
            length += len(piece)
    return FileEntry(name=name, length=length, sha256=whole.hexdigest(), chunks=tuple(chunks))


class _HashingReader(io.RawIOBase):
    """Hashes what tarfile copies, so a file changed since hashing is caught."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.hash = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        self.hash.update(data)
        return data


def _info(name: str, size: int, mtime: int) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.size = size
    ti.mtime = mtime
    ti.mode = 0o644
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = ""
    ti.type = tarfile.REGTYPE
    return ti


def write_bundle(
    out: Path,
    manifest_bytes: bytes,
    sig_bytes: bytes,
    sources: Mapping[str, Source],
    entries: Mapping[str, FileEntry],
    mtime: int,
) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as raw:
            with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
                tar.addfile(
                    _info(MANIFEST_NAME, len(manifest_bytes), mtime), io.BytesIO(manifest_bytes)
                )
                tar.addfile(_info(SIGNATURE_NAME, len(sig_bytes), mtime), io.BytesIO(sig_bytes))
                for name in sorted(sources):
                    entry = entries[name]
                    with _open_source(sources[name]) as f:
                        reader = _HashingReader(f)
                        tar.addfile(_info(name, entry.length, mtime), reader)
                    if reader.hash.hexdigest() != entry.sha256:
                        raise BundleFormatError(
                            f"{name} changed while the bundle was built",
                            subject=str(out),
                            hint="build again",
                        )
            raw.flush()
            os.fsync(raw.fileno())
        os.chmod(tmp, 0o644)
        tmp.replace(out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
