"""The one strict parser of POSIX (ustar/pax) tar headers, and a pull reader on it.

We parse headers ourselves instead of using :mod:`tarfile` so that every field is
checked and nothing is interpreted leniently: checksum, magic, numeric fields
(octal digits or base-256, 64-bit safe, never negative), member type, and the
handful of pax keys a bundle may carry.

Two readers use the same rules: :class:`TarHeaderReader` pulls from a file (the
bundle reader), and the agent's upload checker (``agent/tarcheck.py``) pushes the
bytes of an arriving upload through :func:`parse_header`, :func:`parse_pax`,
:func:`member_of` and :func:`end_limit`. Data is never read here; the caller reads
exactly ``member.size`` bytes and then calls :meth:`TarHeaderReader.skip_padding`.

The archive ends with two zero blocks, padded with zeros to tar's 10 KiB record;
anything after that (even zeros) is refused from the file size alone, without
reading it: a bundle with gigabytes appended is not a bundle.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import BinaryIO

from edgeconsole.bundles.errors import BundleFormatError

BLOCK = 512
#: tar's default record (blocking factor 20): writers pad the end marker up to it.
RECORD = 20 * BLOCK
#: The end-of-archive marker: two zero blocks.
END_MARKER = 2 * BLOCK
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
        # GNU base-256: two's complement with the top bit as the marker. 0x80 is the
        # only lead byte of a non-negative number; anything else is negative (0xFF)
        # or a value no 12-byte field of ours can hold.
        if field[0] != 0x80:
            kind = "negative" if field[0] & 0x40 else "out-of-range"
            raise BundleFormatError(f"{kind} {what} in tar header", subject=subject)
        return int.from_bytes(field[1:], "big")
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


@dataclass(frozen=True)
class TarHeader:
    """One 512-byte header block as written (pax records not yet applied)."""

    name: str
    size: int
    typeflag: bytes

    @property
    def is_pax(self) -> bool:
        return self.typeflag == b"x"


def parse_header(block: bytes, subject: str) -> TarHeader | None:
    """A header block, checked; None for a zero block (the end-of-archive marker)."""
    if len(block) != BLOCK:
        raise BundleFormatError("archive is truncated (in a member header)", subject=subject)
    if block == bytes(BLOCK):
        return None
    try:
        stored: int | None = parse_number(block[148:156], "checksum", subject)
    except BundleFormatError:
        stored = None  # random bytes, most likely: said as a checksum mismatch below
    if stored is None or not _checksum_ok(block, stored):
        raise BundleFormatError(
            "tar header checksum mismatch",
            subject=subject,
            hint="the archive is damaged or not a tar file",
        )
    if block[257:265] not in (b"ustar\x0000", b"ustar  \x00"):
        raise BundleFormatError("not a POSIX (ustar) tar archive", subject=subject)
    size = parse_number(block[124:136], "size", subject)
    raw_name = block[0:100].split(b"\0", 1)[0]
    prefix = block[345:500].split(b"\0", 1)[0]
    if prefix:
        raw_name = prefix + b"/" + raw_name
    try:
        name = raw_name.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BundleFormatError("member name is not UTF-8", subject=subject) from exc
    return TarHeader(name, size, block[156:157])


def parse_pax(data: bytes, subject: str) -> dict[str, str]:
    """The records of a pax extended header (only the allowed keys, each once)."""
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


def pax_header_size(header: TarHeader, pending_pax: bool, subject: str) -> int:
    """The size of a pax header's data, refused when it cannot be a bundle's."""
    if pending_pax:
        raise BundleFormatError("two pax headers in a row", subject=subject)
    if header.size > MAX_PAX_BYTES:
        raise BundleFormatError("pax header larger than 64 KiB", subject=subject)
    return header.size


def member_of(header: TarHeader, pax: dict[str, str], subject: str) -> tuple[str, int]:
    """(name, size) of a regular-file member with its pax records applied; any other
    member type is refused."""
    name, size = header.name, header.size
    if "path" in pax:
        name = pax["path"]
    if "size" in pax:
        # ASCII digits only: str.isdigit() also passes "²" (int() then raises) and
        # 5000-digit strings exceed int()'s limit; 20 digits is any real size.
        if not (pax["size"].isascii() and pax["size"].isdigit()) or len(pax["size"]) > 20:
            raise BundleFormatError("pax size is not a number", subject=subject)
        size = int(pax["size"])
    if header.typeflag not in (b"0", b"\0"):
        kind = _TYPE_NAMES.get(header.typeflag, f"type {header.typeflag!r}")
        raise BundleFormatError(
            f"member {name!r} is a {kind}; only regular files are allowed",
            subject=subject,
            hint="bundles never contain links, devices, FIFOs or directories",
        )
    return name, size


def end_limit(marker_offset: int) -> int:
    """The largest archive size allowed when the end marker starts at
    ``marker_offset``: the two zero blocks, then zeros up to the record boundary."""
    end = marker_offset + END_MARKER
    return -(-end // RECORD) * RECORD


def trailing_data_error(size: int, marker_offset: int, subject: str) -> BundleFormatError:
    return BundleFormatError(
        f"{size - end_limit(marker_offset)} bytes of data after the end-of-archive marker "
        f"(the archive ends at byte {end_limit(marker_offset)}, the file has {size})",
        subject=subject,
        hint="something was appended to the bundle; copy the original file again",
    )


class TarHeaderReader:
    """Walks the headers of an uncompressed tar file, refusing anything unusual."""

    def __init__(self, f: BinaryIO, subject: str) -> None:
        self.f = f
        self.subject = subject
        self.file_size = os.fstat(f.fileno()).st_size
        self.pos = f.tell()
        self.end_marker: int | None = None  # where the end marker starts, once read

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
        pending_pax = False
        while True:
            block = self._read_exact(BLOCK, "a member header")
            header = parse_header(block, self.subject)
            if header is None:
                if pending_pax:
                    raise BundleFormatError(
                        "pax header not followed by a member", subject=self.subject
                    )
                self._check_tail(self.pos - BLOCK)
                return None
            if header.is_pax:
                size = pax_header_size(header, pending_pax, self.subject)
                data = self._read_exact(size, "a pax header")
                self.skip_padding(size)
                pax, pending_pax = parse_pax(data, self.subject), True
                continue
            name, size = member_of(header, pax, self.subject)
            self._truncated_if_beyond(self.pos + size, f"member {name!r}")
            return TarMember(name=name, size=size, data_offset=self.pos)

    def skip_padding(self, size: int) -> None:
        pad = (-size) % BLOCK
        if pad:
            self._read_exact(pad, "member padding")

    def advance(self, n: int) -> None:
        """Record that the caller consumed ``n`` data bytes from ``f``."""
        self.pos += n

    def _check_tail(self, marker: int) -> None:
        """After the first zero block at ``marker``: the second one, then only the
        zeros that pad the record. Trailing data is refused by size before any of it
        is read."""
        if self.file_size > end_limit(marker):
            raise trailing_data_error(self.file_size, marker, self.subject)
        self.end_marker = marker
        second = self._read_exact(BLOCK, "the end-of-archive marker")
        if any(second):
            raise BundleFormatError("data after the end-of-archive marker", subject=self.subject)
        rest = self.f.read(end_limit(marker) - self.pos)  # at most one record
        self.pos += len(rest)
        if rest.count(0) != len(rest):
            raise BundleFormatError("data after the end-of-archive marker", subject=self.subject)


def scan_layout(f: BinaryIO, subject: str) -> int:
    """Walk every header of the archive in ``f`` without reading member data (it is
    stepped over by seeking) and return where the end marker starts. Refuses a
    truncated archive or trailing data before anything inside it is interpreted,
    so a cut-short bundle says "truncated" whatever else is wrong with it."""
    start = f.tell()
    hdr = TarHeaderReader(f, subject)
    while (m := hdr.next_member()) is not None:
        f.seek(m.size, os.SEEK_CUR)
        hdr.advance(m.size)
        hdr.skip_padding(m.size)
    f.seek(start)
    assert hdr.end_marker is not None
    return hdr.end_marker
