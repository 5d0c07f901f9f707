"""Benchmark one model on this machine without distorting what is measured.

The timed loop does nothing but ``session.run`` between two ``perf_counter_ns``
calls and an append to a preallocated array; feeds are built once, outputs are
not touched. The first inference (allocation, kernel selection) is timed and
reported apart and never enters the percentiles.
"""

from __future__ import annotations

import math
import os
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnxruntime as ort

from edgeconsole.core.errors import Cancelled, ConfigError, ModelShapeError
from edgeconsole.inference.preprocess import preprocess_array, preprocess_image
from edgeconsole.inference.spec import ModelSpec

_NP = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(uint8)": np.uint8,
    "tensor(int8)": np.int8,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(double)": np.float64,
    "tensor(bool)": np.bool_,
}
DEFAULT_DYNAMIC = 64
QUANTILES = (50.0, 90.0, 95.0, 99.0, 99.9)


@dataclass
class BenchResult:
    model: str
    runs: int
    warmup: int
    threads: int | None
    providers: list[str]
    input_shapes: dict[str, list[int]]
    load_ms: float | None
    first_inference_ms: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    p999_ms: float
    min_ms: float
    max_ms: float
    mean_ms: float
    throughput_per_s: float
    cpu_percent: float
    peak_rss_mb: float
    budget_ms: float | None
    passed: bool | None
    verdict: str
    samples_ms: np.ndarray | None = None

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "samples_ms"}
        for k, v in out.items():
            if isinstance(v, float):
                out[k] = round(v, 4)
        return out


def synthetic_feeds(
    session: ort.InferenceSession, spec: ModelSpec | None = None, seed: int = 0
) -> dict[str, np.ndarray]:
    """One deterministic input per model input.

    With a description: a seeded noise image (or vector) through the model's own
    preprocessing, so the tensor has the sizes and value range the model sees in
    use. Without one: seeded noise, dynamic dimensions set to 1 (batch) or 64.
    """
    rng = np.random.default_rng(seed)
    feeds: dict[str, np.ndarray] = {}
    inputs = session.get_inputs()
    if spec is not None and len(inputs) == 1:
        pre = spec.preprocess
        if pre.resize == "none":
            shape = [d if isinstance(d, int) and d > 0 else 1 for d in inputs[0].shape]
            raw = rng.standard_normal(shape[1:] or [1]).astype(np.float32)
            try:
                x = preprocess_array(raw, pre)
                feeds[inputs[0].name] = x.reshape(shape) if x.size == np.prod(shape) else x
            except (ConfigError, ModelShapeError, ValueError):
                feeds[inputs[0].name] = raw.reshape(shape)
        else:
            h, w = pre.size if pre.size is not None else (min(pre.max_side or 640, 640),) * 2
            channels = 1 if pre.channel_order == "GRAY" else 3
            img = rng.integers(0, 256, (h * 2, w * 2, channels), dtype=np.uint8)
            feeds[inputs[0].name], _ = preprocess_image(img if channels == 3 else img[..., 0], pre)
        return feeds
    for i in inputs:
        shape = [
            d if isinstance(d, int) and d > 0 else (1 if k == 0 else DEFAULT_DYNAMIC)
            for k, d in enumerate(i.shape)
        ]
        dtype = _NP.get(i.type)
        if dtype is None:
            raise ConfigError(f"cannot make a test input of type {i.type} for {i.name}")
        if np.issubdtype(dtype, np.floating):
            feeds[i.name] = rng.standard_normal(shape).astype(dtype)
        else:
            feeds[i.name] = rng.integers(0, 2, shape).astype(dtype)
    return feeds


def _percentile(sorted_ms: np.ndarray, q: float) -> float:
    # Nearest rank, never interpolated: a reported p99 is a latency that happened.
    rank = max(1, math.ceil(len(sorted_ms) * q / 100.0))
    return float(sorted_ms[rank - 1])


def bench_session(
    session: ort.InferenceSession,
    feeds: dict[str, np.ndarray],
    *,
    model: str,
    runs: int | None = None,
    seconds: float | None = None,
    warmup: int = 10,
    threads: int | None = None,
    budget_ms: float | None = None,
    load_ms: float | None = None,
    cancel: Callable[[], bool] | None = None,
) -> BenchResult:
    if runs is None and seconds is None:
        runs = 200
    if runs is not None and runs < 1:
        raise ConfigError("--runs must be at least 1")
    if seconds is not None and seconds <= 0:
        raise ConfigError("--seconds must be positive")
    run = session.run
    t0 = time.perf_counter_ns()
    run(None, feeds)
    first_ms = (time.perf_counter_ns() - t0) / 1e6
    for _ in range(warmup):
        run(None, feeds)
    cap = runs if runs is not None else 10_000_000
    samples = np.empty(min(cap, 1_000_000), dtype=np.int64)
    deadline = None if seconds is None else time.perf_counter_ns() + int(seconds * 1e9)
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    w0 = time.perf_counter_ns()
    n = 0
    clock = time.perf_counter_ns
    while n < cap:
        t = clock()
        run(None, feeds)
        end = clock()
        if n == len(samples):
            samples = np.concatenate([samples, np.empty(len(samples), dtype=np.int64)])
        samples[n] = end - t
        n += 1
        if deadline is not None and end >= deadline:
            break
        if cancel is not None and n % 64 == 0 and cancel():
            raise Cancelled("benchmark cancelled", subject=model)
    wall_s = (time.perf_counter_ns() - w0) / 1e9
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu_s = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    ms = np.sort(samples[:n].astype(np.float64) / 1e6)
    p = {q: _percentile(ms, q) for q in QUANTILES}
    passed = None if budget_ms is None else p[95.0] <= budget_ms
    verdict = (
        "no latency budget"
        if budget_ms is None
        else f"{'PASS' if passed else 'FAIL'}: p95 {p[95.0]:.3f} ms vs budget {budget_ms:g} ms"
    )
    return BenchResult(
        model=model,
        runs=n,
        warmup=warmup,
        threads=threads,
        providers=list(session.get_providers()),
        input_shapes={k: list(v.shape) for k, v in feeds.items()},
        load_ms=load_ms,
        first_inference_ms=first_ms,
        p50_ms=p[50.0],
        p90_ms=p[90.0],
        p95_ms=p[95.0],
        p99_ms=p[99.0],
        p999_ms=p[99.9],
        min_ms=float(ms[0]),
        max_ms=float(ms[-1]),
        mean_ms=float(ms.mean()),
        throughput_per_s=n / wall_s if wall_s > 0 else 0.0,
        cpu_percent=100.0 * cpu_s / wall_s if wall_s > 0 else 0.0,
        # ru_maxrss is KiB on Linux: the process peak, model and arena included.
        peak_rss_mb=ru1.ru_maxrss / 1024.0,
        budget_ms=budget_ms,
        passed=passed,
        verdict=verdict,
        samples_ms=ms,
    )


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
