"""A strict, streaming reader of POSIX (ustar/pax) tar headers.

We parse headers ourselves instead of using :mod:`tarfile` so that every field is
checked and nothing is interpreted leniently: checksum, magic, numeric fields
(octal or base-256, 64-bit safe), member type, and the handful of pax keys a
bundle may carry. Data is never read here; the caller reads exactly
``member.size`` bytes and then calls :meth:`TarHeaderReader.skip_padding`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import BinaryIO

from edgeconsole.bundles.errors import BundleFormatError

BLOCK = 512
MAX_PAX_BYTES = 64 * 1024
#: pax keys that may appear; they describe the member, none changes how it is read
#: except ``path`` and ``size``. Anything else (GNU sparse maps, links) is refused.
ALLOWED_PAX_KEYS = frozenset(
    {"path", "size", "mtime", "atime", "ctime", "uid", "gid", "uname", "gname"}
)

_TYPE_NAMES = {
    b"1": "hard link",
    b"2": "symbolic link",
    b"3": "character device",
    b"4": "block device",
    b"5": "directory",
    b"6": "FIFO",
    b"7": "contiguous file",
    b"g": "pax global header",
    b"L": "GNU long name",
    b"K": "GNU long link name",
    b"S": "GNU sparse file",
    b"x": "pax header",
}


@dataclass(frozen=True)
class TarMember:
    name: str
    size: int  # 64-bit: Python ints never overflow, and every size is range-checked
    data_offset: int  # absolute offset of the first data byte in the archive


def parse_number(field: bytes, what: str, subject: str) -> int:
    """An octal (NUL/space terminated) or base-256 numeric header field."""
    if field and field[0] & 0x80:
        if field[0] == 0xFF:
            raise BundleFormatError(f"negative {what} in tar header", subject=subject)
        value = field[0] & 0x7F
        for b in field[1:]:
            value = (value << 8) | b
        return value
    text = field.split(b"\0", 1)[0].strip(b" ")
    if not text:
        return 0
    if not all(0x30 <= c <= 0x37 for c in text):
        raise BundleFormatError(f"{what} in tar header is not an octal number", subject=subject)
    return int(text, 8)


def _checksum_ok(block: bytes, stored: int) -> bool:
    blanked = block[:148] + b" " * 8 + block[156:]
    unsigned = sum(blanked)
    signed = sum(b - 256 if b > 127 else b for b in blanked)
    return stored in (unsigned, signed)


def _parse_pax(data: bytes, subject: str) -> dict[str, str]:
    out: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos)
        if space < 0 or space - pos > 20:
            raise BundleFormatError("malformed pax header record", subject=subject)
        length_text = data[pos:space]
        if not length_text.isdigit():
            raise BundleFormatError("malformed pax header record length", subject=subject)
        length = int(length_text)
        end = pos + length
        if length <= space - pos + 1 or end > len(data) or data[end - 1 : end] != b"\n":
            raise BundleFormatError("malformed pax header record", subject=subject)
        record = data[space + 1 : end - 1]
        key_b, eq, value_b = record.partition(b"=")
        if not eq:
            raise BundleFormatError("pax header record without '='", subject=subject)
        try:
            key, value = key_b.decode("utf-8"), value_b.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BundleFormatError("pax header is not UTF-8", subject=subject) from exc
        if key not in ALLOWED_PAX_KEYS:
            raise BundleFormatError(f"pax header key {key!r} is not allowed", subject=subject)
        if key in out:
            raise BundleFormatError(f"pax header key {key!r} given twice", subject=subject)
        out[key] = value
        pos = end
    return out


class TarHeaderReader:
    """Walks the headers of an uncompressed tar file, refusing anything unusual."""

    def __init__(self, f: BinaryIO, subject: str) -> None:
        self.f = f
        self.subject = subject
        self.file_size = os.fstat(f.fileno()).st_size
        self.pos = f.tell()

    def _read_exact(self, n: int, what: str) -> bytes:
        data = self.f.read(n)
        if len(data) != n:
            raise BundleFormatError(
                f"archive is truncated (in {what})",
                subject=self.subject,
                hint="the file was cut short; copy it again",
            )
        self.pos += n
        return data

    def _truncated_if_beyond(self, end: int, what: str) -> None:
        # Checked from the file size before any data is read, so a header that
        # declares gigabytes in a short file is refused at once.
        if end > self.file_size:
            raise BundleFormatError(
                f"archive is truncated: {what} needs bytes up to {end}, file has {self.file_size}",
                subject=self.subject,
                hint="the file was cut short; copy it again",
            )

    def next_member(self) -> TarMember | None:
        """The next regular-file member, or None at the end-of-archive marker."""
        pax: dict[str, str] = {}
        while True:
            block = self._read_exact(BLOCK, "a member header")
            if block == bytes(BLOCK):
                if pax:
                    raise BundleFormatError(
                        "pax header not followed by a member", subject=self.subject
                    )
                self._check_tail()
                return None
            stored = parse_number(block[148:156], "checksum", self.subject)
            if not _checksum_ok(block, stored):
                raise BundleFormatError(
                    "tar header checksum mismatch",
                    subject=self.subject,
                    hint="the archive is damaged or not a tar file",
                )
            magic = block[257:265]
            if magic not in (b"ustar\x0000", b"ustar  \x00"):
                raise BundleFormatError("not a POSIX (ustar) tar archive", subject=self.subject)
            typeflag = block[156:157]
            size = parse_number(block[124:136], "size", self.subject)
            if typeflag == b"x":
                if pax:
                    raise BundleFormatError("two pax headers in a row", subject=self.subject)
                if size > MAX_PAX_BYTES:
                    raise BundleFormatError("pax header larger than 64 KiB", subject=self.subject)
                data = self._read_exact(size, "a pax header")
                self.skip_padding(size)
                pax = _parse_pax(data, self.subject)
                continue
            raw_name = block[0:100].split(b"\0", 1)[0]
            prefix = block[345:500].split(b"\0", 1)[0]
            if prefix:
                raw_name = prefix + b"/" + raw_name
            try:
                name = raw_name.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise BundleFormatError("member name is not UTF-8", subject=self.subject) from exc
            if "path" in pax:
                name = pax["path"]
            if "size" in pax:
                # ASCII digits only: str.isdigit() also passes "²" (int() then raises) and
                # 5000-digit strings exceed int()'s limit; 20 digits is any real size.
                if not (pax["size"].isascii() and pax["size"].isdigit()) or len(pax["size"]) > 20:
                    raise BundleFormatError("pax size is not a number", subject=self.subject)
                size = int(pax["size"])
            if typeflag not in (b"0", b"\0"):
                kind = _TYPE_NAMES.get(typeflag, f"type {typeflag!r}")
                raise BundleFormatError(
                    f"member {name!r} is a {kind}; only regular files are allowed",
                    subject=self.subject,
                    hint="bundles never contain links, devices, FIFOs or directories",
                )
            self._truncated_if_beyond(self.pos + size, f"member {name!r}")
            return TarMember(name=name, size=size, data_offset=self.pos)

    def skip_padding(self, size: int) -> None:
        pad = (-size) % BLOCK
        if pad:
            self._read_exact(pad, "member padding")

    def advance(self, n: int) -> None:
        """Record that the caller consumed ``n`` data bytes from ``f``."""
        self.pos += n

    def _check_tail(self) -> None:
        # After the first zero block only zeros may follow (the second end block
        # and record padding). Data hidden after the end marker is refused.
        while True:
            chunk = self.f.read(1 << 16)
            if not chunk:
                return
            if chunk.count(0) != len(chunk):
                raise BundleFormatError(
                    "data after the end-of-archive marker", subject=self.subject
                )
