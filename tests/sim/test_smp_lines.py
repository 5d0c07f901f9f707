"""The device's SMP line decoder: resync after bit flips, garbage, cuts; nothing bad delivered."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from edgeconsole.sim.smp_lines import SmpLineDecoder, encode_frame


def frames(n: int, size: int = 300, seed: int = 0) -> list[bytes]:
    rng = random.Random(seed)
    return [bytes(rng.randrange(256) for _ in range(size)) + bytes([i]) for i in range(n)]


def test_round_trip_multi_line_frames_any_chunking() -> None:
    msgs = frames(5)
    wire = b"".join(encode_frame(m) for m in msgs)
    for step in (1, 7, 127, 4096):
        d = SmpLineDecoder(max_frame=4096)
        got = []
        for i in range(0, len(wire), step):
            got += d.feed(wire[i : i + step])
        assert got == msgs


def test_bit_flips_are_rejected_and_decoder_resyncs() -> None:
    msgs = frames(40, seed=1)
    wire = bytearray(b"".join(encode_frame(m) for m in msgs))
    rng = random.Random(2)
    for pos in rng.sample(range(len(wire)), 25):
        wire[pos] ^= 1 << rng.randrange(8)
    d = SmpLineDecoder(max_frame=4096)
    got = d.feed(bytes(wire))
    # Every delivered frame is exactly one that was sent; damaged ones are dropped.
    assert got and set(got) <= set(msgs)
    assert len(got) < len(msgs)
    s = d.stats
    assert s.bad_crc + s.bad_base64 + s.orphan_continuations + s.text_lines + s.oversized > 0


def test_garbage_between_frames_and_cut_lines() -> None:
    a, b = frames(2, seed=3)
    enc_a = encode_frame(a)
    wire = b"\x00\xff junk\n" + enc_a[:50] + encode_frame(b) + b"\x06\t!!!!\n" + encode_frame(a)
    d = SmpLineDecoder(max_frame=4096)
    assert d.feed(wire) == [b, a]


def test_oversized_frames_and_lines_dropped() -> None:
    d = SmpLineDecoder(max_frame=100, max_line=200)
    assert d.feed(encode_frame(bytes(500))) == []
    assert d.feed(b"x" * 10_000 + b"\n" + encode_frame(b"ok")) == [b"ok"]
    assert d.stats.oversized >= 2


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=3000))
def test_fuzz_noise_then_frame_always_recovers(noise: bytes) -> None:
    good = encode_frame(b"payload-ok")
    d = SmpLineDecoder(max_frame=4096, max_line=1024)
    got = d.feed(noise + b"\n" + good)
    # Whatever the noise was, the decoder is back in sync at the next frame.
    assert got[-1:] == [b"payload-ok"]
    assert len(d._line) <= d.max_line
