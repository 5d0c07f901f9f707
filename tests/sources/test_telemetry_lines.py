"""Telemetry line parser: normal, partial, hostile and oversized input."""

from __future__ import annotations

import math
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from edgeconsole.sources.telemetry_lines import TelemetryParser


def test_header_and_samples_comma_and_tab() -> None:
    p = TelemetryParser()
    out = p.feed(b"# ax, ay,az\n1,2,3\n4\t5\t6\r\n-1.5e-3,+2,.5\n", t_ns=7)
    assert out.header_changed and p.channels == ("ax", "ay", "az")
    assert [s.values for s in out.samples] == [(1, 2, 3), (4, 5, 6), (-0.0015, 2, 0.5)]
    assert all(s.t_ns == 7 for s in out.samples)
    assert p.stats.samples == 3 and p.stats.headers == 1


def test_split_across_chunks_any_boundary() -> None:
    data = b"#a,b\n" + b"".join(f"{i},{i * 2}\n".encode() for i in range(50))
    for cut in range(1, len(data)):
        p = TelemetryParser()
        got = p.feed(data[:cut]).samples + p.feed(data[cut:]).samples
        assert [s.values for s in got] == [(float(i), float(i * 2)) for i in range(50)]


def test_log_lines_kept_as_text() -> None:
    p = TelemetryParser()
    out = p.feed(b"boot: slot 0 confirmed\n1,2\n")
    assert out.logs == ["boot: slot 0 confirmed"] and len(out.samples) == 1


def test_malformed_counted_not_raised() -> None:
    p = TelemetryParser()
    out = p.feed(b"1,,2\n1,x\n1_000,2\n--1\n1.2.3\n5,6\n")
    assert [s.values for s in out.samples] == [(5.0, 6.0)]
    assert p.stats.malformed == 5


def test_nonfinite_become_nan_and_counted() -> None:
    p = TelemetryParser()
    out = p.feed(b"1,nan,inf\n1e999,-inf,2\n")
    assert math.isnan(out.samples[0].values[1]) and math.isnan(out.samples[0].values[2])
    assert math.isnan(out.samples[1].values[0])
    assert p.stats.nonfinite == 4


def test_width_mismatch_counted() -> None:
    p = TelemetryParser()
    out = p.feed(b"#a,b,c\n1,2\n1,2,3\n")
    assert len(out.samples) == 2 and p.stats.mismatched == 1
    assert p.channel_names(4) == ("a", "b", "c", "ch3")


def test_oversized_line_dropped_memory_bounded() -> None:
    p = TelemetryParser(max_line=64)
    # 10 MB without a newline, in chunks: the parser keeps nothing of it.
    for _ in range(100):
        p.feed(b"9" * 100_000)
        assert len(p._partial) <= 64
    out = p.feed(b"1,2,3\n4,5\n")
    # The oversized line ends at the first newline and is dropped whole.
    assert [s.values for s in out.samples] == [(4.0, 5.0)]
    assert p.stats.oversized == 1
    out = p.feed(b"7" * 70 + b"\n8\n")
    assert [s.values for s in out.samples] == [(8.0,)] and p.stats.oversized == 2


def test_hostile_headers() -> None:
    p = TelemetryParser(max_channels=4)
    p.feed(b"#\n#a,,b\n#" + b",".join([b"x"] * 10) + b"\n")
    assert p.channels == () and p.stats.malformed == 3
    p.feed(b"#\x1b[31mred\x07," + b"n" * 100 + b"\n")
    assert p.channels[0] == "[31mred" and len(p.channels[1]) == 48
    out = p.feed(b"1,2,3,4,5\n")
    assert out.samples == [] and p.stats.malformed == 4


def test_random_garbage_never_raises() -> None:
    rng = random.Random(4)
    p = TelemetryParser(max_line=128)
    for _ in range(300):
        p.feed(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400))))
    assert p.stats.lines > 0 and len(p._partial) <= 128


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=200), max_size=20))
def test_fuzz_chunks(chunks: list[bytes]) -> None:
    p = TelemetryParser(max_line=100)
    for c in chunks:
        out = p.feed(c)
        for s in out.samples:
            assert all(isinstance(v, float) for v in s.values)
            assert all(math.isfinite(v) or math.isnan(v) for v in s.values)
    assert len(p._partial) <= 100


def test_event_lines_are_events_not_log_or_readings() -> None:
    from edgeconsole.sources.telemetry_lines import DeviceEvent

    p = TelemetryParser()
    out = p.feed(b"# a,b\n1,2\n@trigger,7,123456\n@trigger\n@ bad name,1\n@x," + b"1," * 20 + b"\n")
    assert [s.values for s in out.samples] == [(1.0, 2.0)]
    assert out.logs == []
    assert out.events[0] == DeviceEvent(out.events[0].t_ns, "trigger", ("7", "123456"))
    assert out.events[1].name == "trigger" and out.events[1].fields == ()
    assert p.stats.events == 2 and p.stats.malformed == 2  # a name with a space, 20 fields


def test_event_tap_finds_edges_across_chunks_and_skips_oversized_lines() -> None:
    from edgeconsole.sources.telemetry_lines import MAX_LINE, DeviceEvent, EventTap

    got: list[DeviceEvent] = []
    tap = EventTap(got.append)
    stream = b"0.1,0.2\n@trig" + b"ger,1,10\n0.3\n" + b"@trigger,2,20\n"
    for i in range(len(stream)):  # one byte at a time: no boundary loses an edge
        tap.feed(i, stream[i : i + 1])
    assert [(e.name, e.fields) for e in got] == [("trigger", ("1", "10")), ("trigger", ("2", "20"))]
    got.clear()
    # An oversized line (even one that looks like an event) is skipped to its newline,
    # and its tail is never mistaken for an edge.
    tap.feed(1, b"@trigger," + b"9" * (MAX_LINE + 10))
    tap.feed(2, b"@trigger,3,30" + b"x" * 10)
    tap.feed(3, b"\n@trigger,4,40\n\xff@\n@trigger,\xff\n")
    assert [e.fields for e in got] == [("4", "40")]
    assert tap.malformed == 1


def test_event_tap_survives_garbage() -> None:
    from edgeconsole.sources.telemetry_lines import EventTap

    rng = random.Random(5)
    tap = EventTap(lambda ev: None)
    for _ in range(2000):
        tap.feed(0, bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))))
    assert len(tap._partial) <= 1024
