"""Hostile variants of a real signed bundle, for the upload and reader tests."""

from __future__ import annotations

from edgeconsole.bundles.tarstream import BLOCK


def _checksum(block: bytearray) -> None:
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)


def with_header_field(data: bytes, member: int, start: int, value: bytes) -> bytes:
    """``data`` with a raw field of the header of regular member ``member`` (0 =
    manifest.json) replaced and the header checksum fixed, so only that field is
    wrong (pax headers are skipped when counting)."""
    out = bytearray(data)
    pos, seen = 0, 0
    while pos + BLOCK <= len(out):
        block = out[pos : pos + BLOCK]
        size = int(block[124:136].split(b"\0", 1)[0].strip() or b"0", 8)
        if block[156:157] != b"x":
            if seen == member:
                field = bytearray(block)
                width = {124: 12, 148: 8}.get(start, 12)
                field[start : start + width] = value.ljust(width, b"\0")[:width]
                _checksum(field)
                out[pos : pos + BLOCK] = field
                return bytes(out)
            seen += 1
        pos += BLOCK + -(-size // BLOCK) * BLOCK
    raise ValueError(f"no member {member}")


def negative_size(data: bytes, member: int = 0) -> bytes:
    """The reporter's case: ``int(text, 8)`` accepts ``-1000``."""
    return with_header_field(data, member, 124, b"-1000 ")


def _member_header_offsets(data: bytes) -> list[int]:
    out, pos = [], 0
    while pos + BLOCK <= len(data) and any(data[pos : pos + BLOCK]):
        size = int(data[pos + 124 : pos + 136].split(b"\0", 1)[0].strip() or b"0", 8)
        out.append(pos)
        pos += BLOCK + -(-size // BLOCK) * BLOCK
    return out


def negative_pax_size(data: bytes, tail: int = 100) -> bytes:
    """A pax header whose size field says ``-1000`` before the first payload member,
    followed by fewer than 512 bytes. The old push parser read ``int("-1000", 8)``,
    stepped back 512 bytes onto the same header and parsed it again, forever (the
    upload thread at 100 % CPU; cancel, new uploads and SIGTERM hung behind it)."""
    at = _member_header_offsets(data)[2]
    block = bytearray(data[:BLOCK])  # a valid ustar header to start from
    block[0:100] = b"PaxHeader/model.onnx".ljust(100, b"\0")
    block[124:136] = b"-1000 ".ljust(12, b"\0")
    block[156:157] = b"x"
    _checksum(block)
    return data[:at] + bytes(block) + data[at : at + tail]
