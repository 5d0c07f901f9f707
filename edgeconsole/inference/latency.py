"""Latency statistics that never average away the tail.

Two views of the same samples: a rolling window (exact percentiles over the last
N frames, what the live graphs show) and the whole run (a log-bucketed
histogram with 1% relative resolution, so a run of any length keeps constant
memory and still reports p99.9 honestly). The first inference is held apart:
it includes graph optimisation and allocation and would poison every tail.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

from edgeconsole.core.frames import OPTIONAL_STAGES, STAGES, LatencySample


def _numpy() -> Any:
    """numpy, loaded at the first sample: a session (and the window) exists before it
    and paints first (issue 15, start-up)."""
    import numpy

    return numpy


PERCENTILES: tuple[float, ...] = (50.0, 90.0, 99.0)

# 1% wide buckets from 1 microsecond to about 1000 seconds.
_MIN_MS = 1e-3
_GROWTH = 1.01
_NBUCKETS = math.ceil(math.log(1e6 / _MIN_MS) / math.log(_GROWTH)) + 2


class LogHistogram:
    """Counts values in 1%-wide geometric buckets; percentiles within 1% of exact."""

    def __init__(self) -> None:
        self.counts: Any = None  # allocated at the first value
        self.n = 0
        self.min = math.inf
        self.max = -math.inf
        self.total = 0.0

    @staticmethod
    def _bucket(value_ms: float) -> int:
        if value_ms <= _MIN_MS:
            return 0
        b = int(math.log(value_ms / _MIN_MS) / math.log(_GROWTH)) + 1
        return min(b, _NBUCKETS - 1)

    @staticmethod
    def _bucket_value(b: int) -> float:
        if b == 0:
            return _MIN_MS
        # Geometric middle of the bucket.
        return float(_MIN_MS * _GROWTH ** (b - 0.5))

    def add(self, value_ms: float) -> None:
        if not math.isfinite(value_ms):
            return
        value_ms = max(value_ms, 0.0)
        if self.counts is None:
            np = _numpy()
            self.counts = np.zeros(_NBUCKETS, dtype=np.int64)
        self.counts[self._bucket(value_ms)] += 1
        self.n += 1
        self.total += value_ms
        self.min = min(self.min, value_ms)
        self.max = max(self.max, value_ms)

    def percentile(self, p: float) -> float | None:
        return self.percentiles((p,))[0]

    def percentiles(self, ps: Sequence[float]) -> list[float | None]:
        """Several percentiles from one pass over the buckets (a snapshot asks for five
        per series on every poll of the window)."""
        if self.n == 0:
            return [None] * len(ps)
        np = _numpy()
        cum = np.cumsum(self.counts)
        out: list[float | None] = []
        for p in ps:
            if p >= 100.0:
                out.append(self.max)
                continue
            # Same rank as numpy's method="higher", so both views agree on the tail.
            rank = math.ceil((self.n - 1) * p / 100.0) + 1
            b = int(np.searchsorted(cum, rank))
            out.append(float(min(max(self._bucket_value(b), self.min), self.max)))
        return out


def higher_percentiles(ordered: np.ndarray, ps: Sequence[float]) -> list[float]:
    """``np.percentile(values, ps, method="higher")`` of the sorted ``ordered``: the same
    numbers, without numpy's general machinery (the window asks for five per series
    on every poll, about 0.4 ms each through np.percentile). "higher" never reports a
    value lower than one actually seen: a tail is a tail."""
    n = len(ordered)
    out = []
    for p in ps:
        # numpy's index for "higher", in the same float steps: ceil((n - 1) * (p / 100)).
        virtual = (n - 1) * (p / 100.0)
        out.append(float(ordered[min(max(math.ceil(virtual), 0), n - 1)]))
    return out


@dataclass
class SeriesStats:
    """Percentiles for one series (a stage, end-to-end, or unaccounted)."""

    count: int
    p50: float | None
    p90: float | None
    p99: float | None
    max: float | None
    min: float | None = None
    p95: float | None = None
    p999: float | None = None

    def to_json(self) -> dict[str, Any]:
        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 3)

        return {
            "count": self.count,
            "p50": r(self.p50),
            "p90": r(self.p90),
            "p95": r(self.p95),
            "p99": r(self.p99),
            "p999": r(self.p999),
            "min": r(self.min),
            "max": r(self.max),
        }


@dataclass
class LatencySnapshot:
    rolling: dict[str, SeriesStats]
    run: dict[str, SeriesStats]
    first_inference_ms: float | None
    first_e2e_ms: float | None
    samples: int
    budget_ms: float | None
    over_budget: int
    histogram_edges: list[float] = field(default_factory=list)
    histogram_counts: list[int] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "first_inference_ms": None
            if self.first_inference_ms is None
            else round(self.first_inference_ms, 3),
            "budget_ms": self.budget_ms,
            "over_budget": self.over_budget,
            "rolling": {k: v.to_json() for k, v in self.rolling.items()},
            "run": {k: v.to_json() for k, v in self.run.items()},
        }


SERIES: tuple[str, ...] = (*STAGES, *OPTIONAL_STAGES, "unaccounted", "e2e", "shown")
#: The percentiles a snapshot gives per series, in this order.
_PERCENTS = (50.0, 90.0, 99.0, 95.0, 99.9)


class LatencyStats:
    """Accumulates LatencySamples; not thread-safe (owned by one thread)."""

    def __init__(
        self, window: int = 300, budget_ms: float | None = None, histogram_bins: int = 40
    ) -> None:
        self.window = window
        self.budget_ms = budget_ms
        self.histogram_bins = histogram_bins
        self._rolling: dict[str, deque[float]] = {s: deque(maxlen=window) for s in SERIES}
        self._run: dict[str, LogHistogram] = {s: LogHistogram() for s in SERIES}
        self.first_inference_ms: float | None = None
        self.first_e2e_ms: float | None = None
        self.samples = 0
        self.over_budget = 0

    def add(self, sample: LatencySample) -> None:
        if sample.first_inference:
            self.first_inference_ms = sample.stages.get("infer")
            self.first_e2e_ms = sample.e2e_ms
            return
        self.samples += 1
        for name in (*STAGES, *OPTIONAL_STAGES):
            v = sample.stages.get(name)
            if v is not None:
                self._rolling[name].append(v)
                self._run[name].add(v)
        for name, v in (("unaccounted", sample.unaccounted_ms), ("e2e", sample.e2e_ms)):
            self._rolling[name].append(v)
            self._run[name].add(v)
        if self.budget_ms is not None and sample.e2e_ms > self.budget_ms:
            self.over_budget += 1

    def add_shown(self, e2e_to_display_ms: float) -> None:
        """End-to-end latency up to the moment the window painted the frame."""
        self._rolling["shown"].append(e2e_to_display_ms)
        self._run["shown"].add(e2e_to_display_ms)

    def snapshot(self) -> LatencySnapshot:
        np = _numpy()
        rolling: dict[str, SeriesStats] = {}
        for name, values in self._rolling.items():
            if not values:
                rolling[name] = SeriesStats(0, None, None, None, None)
                continue
            arr = np.fromiter(values, dtype=np.float64, count=len(values))
            arr.sort()
            p50, p90, p99, p95, p999 = higher_percentiles(arr, _PERCENTS)
            rolling[name] = SeriesStats(
                count=len(arr),
                p50=p50,
                p90=p90,
                p99=p99,
                max=float(arr[-1]),
                min=float(arr[0]),
                p95=p95,
                p999=p999,
            )
        run: dict[str, SeriesStats] = {}
        for name, h in self._run.items():
            r50, r90, r99, r95, r999 = h.percentiles(_PERCENTS)
            run[name] = SeriesStats(
                count=h.n,
                p50=r50,
                p90=r90,
                p99=r99,
                max=None if h.n == 0 else h.max,
                min=None if h.n == 0 else h.min,
                p95=r95,
                p999=r999,
            )
        edges: list[float] = []
        counts: list[int] = []
        e2e = self._rolling["e2e"]
        if e2e:
            arr = np.fromiter(e2e, dtype=np.float64, count=len(e2e))
            hi = max(float(arr.max()), self.budget_ms or 0.0) * 1.05 or 1.0
            c, e = np.histogram(arr, bins=self.histogram_bins, range=(0.0, hi))
            edges, counts = [float(x) for x in e], [int(x) for x in c]
        return LatencySnapshot(
            rolling=rolling,
            run=run,
            first_inference_ms=self.first_inference_ms,
            first_e2e_ms=self.first_e2e_ms,
            samples=self.samples,
            budget_ms=self.budget_ms,
            over_budget=self.over_budget,
            histogram_edges=edges,
            histogram_counts=counts,
        )
