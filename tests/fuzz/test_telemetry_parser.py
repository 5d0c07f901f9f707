"""The telemetry line parser: arbitrary bytes never crash it or grow it, and rows a
device prints come out as the same numbers however the bytes were chunked."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from edgeconsole.sources.telemetry_lines import MAX_CHANNELS, TelemetryParser
from tests.fuzz._settings import count, fuzz


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    out, prev = [], 0
    for p in [*points, len(data)]:
        out.append(data[prev:p])
        prev = p
    return out


@fuzz(quick=80)
@given(st.binary(max_size=8192), st.lists(st.integers(0, 1 << 16), max_size=12))
def test_arbitrary_bytes_never_crash_and_stay_bounded(data: bytes, cuts: list[int]) -> None:
    count("telemetry: arbitrary bytes")
    p = TelemetryParser(max_line=256)
    for chunk in _chunks(data, cuts):
        out = p.feed(chunk, t_ns=1)
        assert len(p._partial) <= p.max_line
        assert len(p.channels) <= MAX_CHANNELS
        for s in out.samples:
            assert 0 < len(s.values) <= MAX_CHANNELS
            assert all(isinstance(v, float) and not math.isinf(v) for v in s.values)


finite = st.floats(allow_nan=False, allow_infinity=False, width=32)
rows = st.lists(st.lists(finite, min_size=3, max_size=3), min_size=1, max_size=40)


@fuzz(quick=80)
@given(
    rows,
    st.sampled_from([",", "\t", ", "]),
    st.sampled_from(["\n", "\r\n"]),
    st.lists(st.integers(0, 1 << 14), max_size=20),
)
def test_rows_round_trip_in_any_chunking(
    values: list[list[float]], sep: str, eol: str, cuts: list[int]
) -> None:
    count("telemetry: rows round trip (any chunking)")
    text = "# ax,ay,az" + eol + "".join(sep.join(repr(v) for v in r) + eol for r in values)
    p = TelemetryParser()
    got = []
    for chunk in _chunks(text.encode(), cuts):
        got += [s.values for s in p.feed(chunk, t_ns=1).samples]
    assert p.channels == ("ax", "ay", "az")
    assert got == [tuple(r) for r in values]
    assert p.stats.malformed == p.stats.mismatched == 0


@fuzz(quick=80)
@given(st.binary(min_size=1, max_size=5000).filter(lambda b: b"\n" not in b))
def test_an_oversized_line_is_dropped_and_counted_then_parsing_resumes(junk: bytes) -> None:
    count("telemetry: oversized line then recovery")
    p = TelemetryParser(max_line=64)
    out = p.feed(b"1,2\n" + junk * (1 + 200 // len(junk)))
    out2 = p.feed(b"\n3,4\n")
    assert [s.values for s in out.samples + out2.samples] == [(1.0, 2.0), (3.0, 4.0)]
    assert p.stats.oversized == 1
