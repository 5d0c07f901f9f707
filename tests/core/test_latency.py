import math

import numpy as np
import pytest

from edgeconsole.core.frames import LatencySample
from edgeconsole.inference.latency import LatencyStats, LogHistogram


def _sample(i: int, infer: float, first: bool = False) -> LatencySample:
    stamps = {
        "capture_start": 0,
        "captured": 1_000_000,
        "preprocess_start": 1_500_000,
        "preprocess_end": 2_000_000,
        "infer_start": 2_000_000,
        "infer_end": 2_000_000 + int(infer * 1e6),
    }
    return LatencySample.from_stamps(i, stamps, first=first)


def test_sample_from_stamps_stage_times_and_unaccounted() -> None:
    s = _sample(0, 10.0)
    assert s.stages["capture"] == pytest.approx(1.0)
    assert s.stages["preprocess"] == pytest.approx(0.5)
    assert s.stages["infer"] == pytest.approx(10.0)
    assert s.e2e_ms == pytest.approx(12.0)
    # 0.5 ms between captured and preprocess_start was measured by nobody.
    assert s.unaccounted_ms == pytest.approx(0.5)


def test_shown_extends_end_to_end() -> None:
    stamps = {"captured": 0, "infer_start": 0, "infer_end": 5_000_000, "shown": 9_000_000}
    s = LatencySample.from_stamps(1, stamps)
    assert s.e2e_ms == pytest.approx(9.0)
    assert s.unaccounted_ms == pytest.approx(4.0)


def test_unaccounted_is_derived_by_the_one_constructor() -> None:
    # Every producer (local, worker, gateway, recordings) gets the same arithmetic:
    # nobody passes an unaccounted time of their own.
    s = LatencySample(3, {"infer": 4.0, "network": 2.5}, 10.0)
    assert s.unaccounted_ms == pytest.approx(3.5)
    assert LatencySample(3, {"infer": 12.0}, 10.0).unaccounted_ms == 0.0
    with pytest.raises(TypeError):
        LatencySample(3, {}, 10.0, unaccounted_ms=1.0)  # type: ignore[call-arg]


def test_handoff_stamps_are_a_stage_of_their_own() -> None:
    stamps = {
        "captured": 0,
        "infer_start": 0,
        "infer_end": 5_000_000,
        "handoff_start": 5_500_000,
        "handoff_end": 7_000_000,
    }
    s = LatencySample.from_stamps(2, stamps)
    assert s.stages["handoff"] == pytest.approx(1.5)
    assert s.e2e_ms == pytest.approx(7.0)
    assert s.unaccounted_ms == pytest.approx(0.5)


def test_first_inference_kept_apart_from_tail() -> None:
    stats = LatencyStats(window=50)
    stats.add(_sample(0, 500.0, first=True))
    for i in range(1, 101):
        stats.add(_sample(i, 10.0))
    snap = stats.snapshot()
    assert snap.first_inference_ms == pytest.approx(500.0)
    assert snap.run["infer"].max == pytest.approx(10.0)
    assert snap.samples == 100


def test_tail_is_not_averaged_away() -> None:
    stats = LatencyStats(window=1000, budget_ms=20.0)
    for i in range(990):
        stats.add(_sample(i, 5.0))
    for i in range(10):
        stats.add(_sample(1000 + i, 100.0))
    snap = stats.snapshot()
    assert snap.rolling["infer"].p50 == pytest.approx(5.0)
    assert snap.rolling["infer"].p99 == pytest.approx(100.0)
    assert snap.run["infer"].p99 == pytest.approx(100.0, rel=0.01)
    assert snap.over_budget == 10
    assert sum(snap.histogram_counts) == 1000


def test_log_histogram_percentiles_within_one_percent() -> None:
    rng = np.random.default_rng(3)
    values = rng.lognormal(mean=2.0, sigma=0.8, size=20_000)
    h = LogHistogram()
    for v in values:
        h.add(float(v))
    for p in (50, 90, 99, 99.9):
        exact = float(np.percentile(values, p, method="higher"))
        assert h.percentile(p) == pytest.approx(exact, rel=0.011)
    assert h.percentile(100) == pytest.approx(values.max())


def test_log_histogram_ignores_non_finite_and_clamps_negative() -> None:
    h = LogHistogram()
    h.add(math.nan)
    h.add(math.inf)
    assert h.n == 0
    assert h.percentile(50) is None
    h.add(-3.0)
    assert h.percentile(50) == 0.0
    h.add(1e12)  # beyond the last bucket
    assert h.percentile(100) == 1e12
