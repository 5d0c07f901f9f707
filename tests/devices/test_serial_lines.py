"""The host's serial line decoder on hand-picked lines: text and SMP frames sharing one
console, including a frame that interrupts a text line and text that merely contains
the start delimiter's bytes."""

from __future__ import annotations

import pytest

from edgeconsole.devices.serial.transport import ClientLineDecoder, LinkStats
from edgeconsole.sim.smp_lines import encode_frame


def feed(*chunks: bytes) -> tuple[list[bytes], bytes, LinkStats]:
    stats = LinkStats()
    dec = ClientLineDecoder(stats, max_frame=2048)
    frames: list[bytes] = []
    text = b""
    for c in chunks:
        f, t = dec.feed(c)
        frames += f
        text += t
    return frames, text, stats


@pytest.mark.parametrize(
    "line",
    [
        b"\x00\x06\t\n",  # found by the long fuzz run: the delimiter's bytes were dropped
        b"temp=21.5 \x06\t!!\n",
        b"a\x06\tAA\n",  # base64 of one byte: too short to hold a frame length
        b"x\x06\t\x06\t\n",
    ],
)
def test_text_containing_the_delimiter_bytes_is_kept_whole(line: bytes) -> None:
    frames, text, stats = feed(line)
    assert frames == [] and text == line
    assert stats.bad_base64 == 0


def test_a_frame_interrupting_a_text_line_is_decoded_and_the_text_kept() -> None:
    frame = encode_frame(b"\x01\x02payload")
    assert frame.startswith(b"\x06\t")
    # In one read: the cut-short text is ended where the frame began.
    frames, text, _ = feed(b"accel_x=0.01,acc" + frame + b"el_y=0.02\n")
    assert frames == [b"\x01\x02payload"]
    assert text == b"accel_x=0.01,acc\nel_y=0.02\n"
    # Across reads (the first part already handed on): the same.
    frames, text, _ = feed(b"accel_x=0.01,acc", frame, b"el_y=0.02\n")
    assert frames == [b"\x01\x02payload"]
    assert text == b"accel_x=0.01,acc\nel_y=0.02\n"


@pytest.mark.parametrize("cut", range(1, 12))
def test_a_read_boundary_inside_a_text_line_never_turns_its_rest_into_smp(cut: int) -> None:
    # Found by the long fuzz run: a read ending just before a mid-line b"\x04\x14" made
    # the rest of the line look like an SMP continuation, and it was dropped.
    line = b"\x00\x00\x00\x04\x14\x00\x06\t\x06\x00\n"
    frames, text, stats = feed(line[:cut], line[cut:], encode_frame(b"after"))
    assert frames == [b"after"] and text == line
    assert stats.orphan == 0 and stats.bad_base64 == 0


def test_a_corrupt_frame_after_text_is_refused_not_delivered() -> None:
    wire = bytearray(encode_frame(b"body bytes"))
    wire[5] ^= 0x01  # one base64 character changed: the CRC fails
    frames, text, stats = feed(b"log line ", bytes(wire), encode_frame(b"next"))
    assert frames == [b"next"]
    assert text.startswith(b"log line ")
    assert stats.bad_crc + stats.bad_base64 + stats.oversized >= 1
