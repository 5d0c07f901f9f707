"""Benchmark a verified bundle on this machine (the window's Bench tab, ``bench B.ecb``)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeconsole.core.jobs import CancelFn, ProgressFn, check_cancel, never, no_progress
from edgeconsole.workshop.access import open_verified


@dataclass(frozen=True)
class BenchRequest:
    bundle: Path
    trust_dir: Path
    runs: int | None = 200
    seconds: float | None = None
    warmup: int = 10
    threads: int | None = None
    budget_ms: float | None = None  # None: the bundle's own budget


def bench_bundle(
    req: BenchRequest, progress: ProgressFn = no_progress, cancel: CancelFn = never
) -> Any:
    """Verify, load and benchmark a bundle; returns ``inference.bench.BenchResult``."""
    import time

    from edgeconsole.inference.bench import bench_session, synthetic_feeds
    from edgeconsole.inference.providers import make_ort_session

    vb = open_verified(
        req.bundle,
        req.trust_dir,
        progress=lambda n, t: progress(0.2 * n / max(t, 1), "verifying"),
        cancel=cancel,
    )
    check_cancel(cancel, "benchmark")
    progress(0.2, "loading the model")
    label = f"{req.bundle.name}:{vb.manifest.model}"
    t0 = time.perf_counter()
    sess = make_ort_session(vb.model_bytes, threads=req.threads, name=label)
    load_ms = (time.perf_counter() - t0) * 1e3
    spec = vb.description
    golden = vb.manifest.golden
    if golden is not None and len(sess.get_inputs()) == 1:
        x = np.load(io.BytesIO(vb.file_bytes(golden["input"])), allow_pickle=False)
        feeds = {sess.get_inputs()[0].name: x}
    else:
        feeds = synthetic_feeds(sess, spec)
    budget = req.budget_ms if req.budget_ms is not None else spec.latency_budget_ms
    polls = [0]
    start = time.perf_counter()

    def poll() -> bool:
        # bench_session asks every 64 runs; counting the asks gives progress
        # without adding anything to the timed loop itself.
        polls[0] += 1
        if req.runs is not None:
            frac = min(1.0, polls[0] * 64 / req.runs)
        else:
            frac = min(1.0, (time.perf_counter() - start) / (req.seconds or 1))
        progress(0.25 + 0.75 * frac, f"timing ({polls[0] * 64} runs)")
        return cancel()

    progress(0.25, "warming up")
    return bench_session(
        sess,
        feeds,
        model=label,
        runs=req.runs,
        seconds=req.seconds,
        warmup=req.warmup,
        threads=req.threads,
        budget_ms=budget,
        load_ms=load_ms,
        cancel=poll,
    )
