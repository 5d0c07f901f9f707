"""TelemetryStream: hostile bytes, bounded buffers, timing, statistics, shadow flagging.

The shadow engine here is a small stand-in (a unit test of the layer above the
model); the real model runs in tests/session/test_targets.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeconsole.inference.shadow import ShadowRunner
from edgeconsole.session.device_telemetry import TelemetryStream

HEADER = b"# accel_x_g,accel_y_g,accel_z_g,score\n"


def lines(rows: list[tuple[float, ...]]) -> bytes:
    return b"".join((",".join(f"{v:g}" for v in r) + "\n").encode() for r in rows)


def test_names_stats_and_time_spread() -> None:
    s = TelemetryStream("serial:///x")
    s.feed([(1_000_000_000, HEADER + lines([(0.1, 0.2, 1.0, 0.5), (0.3, -0.2, 0.9, 0.5)]))])
    s.feed([(2_000_000_000, lines([(0.2, 0.0, 1.1, 0.7)] * 10))])
    b = s.take()
    assert b is not None and b.header_changed
    assert b.channels == ("accel_x_g", "accel_y_g", "accel_z_g", "score")
    assert b.values.shape == (12, 4) and len(b.t) == 12
    assert np.all(np.diff(b.t) >= 0)  # never before the previous sample
    st = {x.name: x for x in b.stats}
    assert st["accel_x_g"].min == 0.1 and st["accel_x_g"].max == 0.3
    assert math.isclose(st["accel_z_g"].mean, (1.0 + 0.9 + 11.0) / 12)
    assert b.model_channel == "score"
    assert s.take() is None  # nothing new


def test_hostile_input_is_counted_not_plotted() -> None:
    s = TelemetryStream("serial:///x")
    junk = (
        HEADER
        + b"1,2,3,4\n"
        + b"\xff\xfe garbage\n"  # a log line (text)
        + b"1,2,x,4\n"  # malformed
        + b"9" * 5000
        + b"\n"  # oversized
        + b"1,2\n"  # wrong width: kept, padded with nan
        + b"nan,inf,1,2\n"  # starts with a letter: a log line
        + b"1_000,2,3,4\n"
    )
    s.feed([(1, junk)])
    b = s.take()
    assert b is not None
    assert b.values.shape[1] == 4
    assert b.dropped_lines >= 3  # malformed, oversized, mismatched
    assert np.isnan(b.values[1, 2:]).all()
    assert b.log_lines == 2 and len(s.take_logs()) == 2  # the garbage and "nan,inf" lines
    assert all(math.isfinite(x.mean) for x in b.stats if x.mean is not None)


def test_pending_buffer_is_bounded_and_drops_are_counted() -> None:
    s = TelemetryStream("serial:///x", pending_limit=100, history_limit=50)
    for i in range(20):
        s.feed([(i * 10_000_000, HEADER * (i == 0) + lines([(1, 2, 3, 4)] * 30))])
    b = s.take()
    assert b is not None
    assert 0 < len(b.t) <= 100 and b.lost + len(b.t) == 600  # oldest chunks dropped, counted
    assert b.samples == 600


@dataclass
class _Anomaly:
    score: float


@dataclass
class _Result:
    anomaly: _Anomaly
    classification: Any = None


class _SumEngine:
    """Score = sum of the window (the device prints the same, or not)."""

    def __init__(self, offset: float = 0.0) -> None:
        self.offset = offset
        self.calls = 0

    def process_array(self, x: np.ndarray) -> _Result:
        self.calls += 1
        return _Result(_Anomaly(float(x.sum()) + self.offset))


def _device_stream(n: int, window: int, wrong_by: float = 0.0) -> bytes:
    """What a device with a sum 'model' prints: a new score every window/2 readings."""
    rng = np.random.default_rng(1)
    rows = rng.normal(size=(n, 3)).round(4)
    out = [HEADER]
    score = float("nan")
    for i in range(n):
        if i + 1 >= window and (i + 1) % (window // 2) == 0:
            score = float(rows[i + 1 - window : i + 1].sum()) + wrong_by
        out.append(f"{rows[i, 0]:g},{rows[i, 1]:g},{rows[i, 2]:g},{score:.6f}\n".encode())
    return b"".join(out)


def test_shadow_matches_the_device_windows() -> None:
    s = TelemetryStream("serial:///x")
    engine = _SumEngine()
    s.set_shadow(ShadowRunner(engine, window=8, tolerance=1e-3, threshold=1.0, bundle="sum v1"))
    s.feed([(1, _device_stream(200, 8))])
    b = s.take()
    assert b is not None
    st = b.shadow_status
    assert st.available and st.compared >= 40 and st.divergent == 0 and not st.diverging
    assert all(abs(p.diff) < 1e-3 for p in b.shadow)
    assert b.threshold == 1.0


def test_shadow_flags_divergence_beyond_tolerance() -> None:
    s = TelemetryStream("serial:///x")
    s.set_shadow(
        ShadowRunner(_SumEngine(), window=8, tolerance=0.05, threshold=None, bundle="sum v1")
    )
    s.feed([(1, _device_stream(200, 8, wrong_by=0.5))])  # e.g. a preprocessing bug
    b = s.take()
    assert b is not None
    assert b.shadow_status.diverging and b.shadow_status.divergent == b.shadow_status.compared
    assert b.shadow_status.max_abs_diff is not None and b.shadow_status.max_abs_diff > 0.4


def test_shadow_model_failure_turns_shadow_off_with_reason() -> None:
    class Broken:
        def process_array(self, x: np.ndarray) -> Any:
            raise RuntimeError("bad input shape")

    s = TelemetryStream("serial:///x")
    s.set_shadow(ShadowRunner(Broken(), window=8, tolerance=0.1, threshold=None, bundle="b"))
    s.feed([(1, _device_stream(50, 8))])
    st = s.shadow_status()
    assert not st.available and "bad input shape" in st.reason


def test_input_window_arithmetic() -> None:
    assert ShadowRunner.input_window(192, 3) == 64
    assert ShadowRunner.input_window(64, 3) == 0
    assert ShadowRunner.input_window(0, 3) == 0
