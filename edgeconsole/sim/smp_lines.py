"""The device side of SMP's serial console framing: bytes in, checked frames out.

A frame is sent as lines: ``06 09`` + base64 + ``\\n`` starts it, ``04 14`` +
base64 + ``\\n`` continues it; the decoded bytes are ``length (2) + body + CRC16``.
``smp.packet.decode`` raises on the first bad line; a device cannot stop, so this
decoder drops what is wrong and resynchronises on the next start line: a bad
CRC, bad base64, a continuation without a start, an oversized frame or line are
each counted and forgotten. Nothing unchecked is ever delivered.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass

from smp import packet as smppacket


@dataclass(slots=True)
class LineStats:
    frames: int = 0
    bad_crc: int = 0
    bad_base64: int = 0
    orphan_continuations: int = 0
    oversized: int = 0
    text_lines: int = 0  # non-SMP input (someone typing at the console)


class SmpLineDecoder:
    def __init__(self, max_frame: int, max_line: int = 4096) -> None:
        self.max_frame = max_frame  # decoded body + CRC, the device's buffer size
        self.max_line = max_line
        self.stats = LineStats()
        self._line = bytearray()
        self._skip_line = False
        self._frame: bytearray | None = None
        self._expect = 0

    def feed(self, data: bytes) -> list[bytes]:
        frames: list[bytes] = []
        start = 0
        while True:
            nl = data.find(b"\n", start)
            if nl < 0:
                rest = data[start:]
                if not self._skip_line:
                    if len(self._line) + len(rest) > self.max_line:
                        self._line.clear()
                        self._skip_line = True
                        self.stats.oversized += 1
                    else:
                        self._line += rest
                return frames
            piece = data[start:nl]
            start = nl + 1
            if self._skip_line:
                self._skip_line = False
                continue
            if self._line:
                self._line += piece
                line = bytes(self._line)
                self._line.clear()
            else:
                line = piece
            if len(line) > self.max_line:
                self.stats.oversized += 1
                continue
            frame = self._on_line(line)
            if frame is not None:
                frames.append(frame)

    def _on_line(self, line: bytes) -> bytes | None:
        # A start delimiter inside a line means the line before it was cut off
        # (a dropped cable, a lost newline): the frame starts there.
        restart = line.rfind(smppacket.START_DELIMITER)
        if restart > 0:
            self.stats.oversized += 1
            line = line[restart:]
        head, body = line[:2], line[2:].rstrip(b"\r")
        if head == smppacket.START_DELIMITER:
            self._frame = None  # a new start abandons any unfinished frame
            raw = self._b64(body)
            if raw is None or len(raw) < 2:
                return None
            self._expect = smppacket.FRAME_LENGTH_STRUCT.unpack(raw[:2])[0]
            if self._expect > self.max_frame or self._expect < 2:
                self.stats.oversized += 1
                return None
            self._frame = bytearray(raw[2:])
        elif head == smppacket.CONTINUE_DELIMITER:
            if self._frame is None:
                self.stats.orphan_continuations += 1
                return None
            raw = self._b64(body)
            if raw is None:
                self._frame = None
                return None
            self._frame += raw
        else:
            self.stats.text_lines += 1
            return None
        if len(self._frame) < self._expect:
            return None
        frame, self._frame = self._frame, None
        if len(frame) != self._expect:
            self.stats.oversized += 1
            return None
        body_bytes = bytes(frame[:-2])
        crc = smppacket.CRC16_STRUCT.unpack(frame[-2:])[0]
        if smppacket.crc16_func(body_bytes) != crc:
            self.stats.bad_crc += 1
            return None
        self.stats.frames += 1
        return body_bytes

    def _b64(self, body: bytes) -> bytes | None:
        try:
            return binascii.a2b_base64(body, strict_mode=True)
        except (binascii.Error, ValueError):
            self.stats.bad_base64 += 1
            return None


def encode_frame(body: bytes, line_length: int = 128) -> bytes:
    """One SMP message as console lines (``smp.packet.encode``), joined."""
    return b"".join(smppacket.encode(body, line_length=line_length))
