"""Benchmark a model on this machine: a verified bundle (the window's Bench tab), a model
description or a bare ONNX file (``edgeconsole bench``), alone or with every execution
provider and thread count side by side."""

from __future__ import annotations

import io
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeconsole.core.errors import ConfigError, EdgeConsoleError
from edgeconsole.core.jobs import CancelFn, ProgressFn, check_cancel, never, no_progress
from edgeconsole.inference.spec import ModelSpec, load_model_spec
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


@dataclass(frozen=True)
class BenchTarget:
    """What is benchmarked: the model's bytes, its description (None for a bare ONNX
    file), the golden input when it has one, and how results name it."""

    model: bytes
    spec: ModelSpec | None
    golden: np.ndarray | None
    label: str


def load_bench_target(target: Path, trust: Path | None) -> BenchTarget:
    """A bundle (verified against ``trust``), a model description or folder, or an
    ONNX file, as one :class:`BenchTarget`."""
    if target.suffix == ".ecb":
        if trust is None:
            raise ConfigError(
                "benchmarking a bundle needs --trust DIR",
                subject=str(target),
                hint="only verified bundles are loaded",
            )
        vb = open_verified(target, trust, mode="memory")
        golden = None
        if vb.manifest.golden is not None:
            golden = np.load(
                io.BytesIO(vb.file_bytes(vb.manifest.golden["input"])), allow_pickle=False
            )
        return BenchTarget(
            vb.model_bytes, vb.description, golden, f"{target.name}:{vb.manifest.model}"
        )
    if target.suffix == ".onnx":
        if not target.is_file():
            raise ConfigError("model file not found", subject=str(target))
        return BenchTarget(target.read_bytes(), None, None, str(target))
    spec = load_model_spec(target)
    golden = None
    if spec.golden and isinstance(spec.golden.get("input"), str) and spec.base_dir:
        p = spec.base_dir / spec.golden["input"]
        if p.is_file():
            golden = np.load(p, allow_pickle=False)
    if not spec.model_path.is_file():
        raise ConfigError("model file not found", subject=str(spec.model_path))
    return BenchTarget(spec.model_path.read_bytes(), spec, golden, str(spec.model_path))


def bench_feeds(sess: Any, spec: ModelSpec | None, golden: np.ndarray | None) -> dict[str, Any]:
    """The golden input when the model takes one tensor, else synthetic feeds."""
    from edgeconsole.inference.bench import synthetic_feeds

    if golden is not None and len(sess.get_inputs()) == 1:
        return {sess.get_inputs()[0].name: golden}
    return synthetic_feeds(sess, spec)


def bench_model(
    target: BenchTarget,
    *,
    runs: int | None = 200,
    seconds: float | None = None,
    warmup: int = 10,
    threads: int | None = None,
    providers: Sequence[str] | None = None,
    budget_ms: float | None = None,
    cancel: Callable[[], bool] | None = None,
) -> Any:
    """Load and time ``target``; returns ``inference.bench.BenchResult``. The budget is
    ``budget_ms``, else the description's."""
    from edgeconsole.inference.bench import bench_session
    from edgeconsole.inference.providers import make_ort_session

    t0 = time.perf_counter()
    sess = make_ort_session(
        target.model,
        threads=threads,
        providers=list(providers) if providers is not None else None,
        name=target.label,
    )
    load_ms = (time.perf_counter() - t0) * 1e3
    feeds = bench_feeds(sess, target.spec, target.golden)
    if budget_ms is None and target.spec is not None:
        budget_ms = target.spec.latency_budget_ms
    return bench_session(
        sess,
        feeds,
        model=target.label,
        runs=runs,
        seconds=seconds,
        warmup=warmup,
        threads=threads,
        budget_ms=budget_ms,
        load_ms=load_ms,
        cancel=cancel,
    )


def compare_runtimes(
    target: BenchTarget,
    *,
    runs: int | None,
    rounds: int,
    threads: Sequence[int],
    peers: Sequence[str | Path] = (),
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Every installed execution provider and thread count (and those of the peer
    runtimes) timed in ``rounds`` interleaved rounds; the summary table as a dict."""
    from edgeconsole.inference import compare as cmp
    from edgeconsole.inference.providers import make_ort_session

    sess = make_ort_session(target.model, threads=1, name=target.label)
    feeds = bench_feeds(sess, target.spec, target.golden)
    del sess
    runtimes = [cmp.this_runtime()]
    skipped: list[dict[str, str]] = []
    for python in cmp.peer_pythons(peers):
        try:
            runtimes.append(cmp.probe(python))
        except EdgeConsoleError as exc:
            skipped.append({"python": str(python), "error": exc.what})
    variants = cmp.plan(runtimes, threads)
    per_round = max(1, math.ceil((runs or 200) / rounds))
    results = cmp.compare(
        target.model, feeds, variants, rounds=rounds, runs=per_round, progress=progress
    )
    out = cmp.summary(results)
    out.update(model=target.label, input_shapes={k: list(v.shape) for k, v in feeds.items()})
    out["skipped_runtimes"] = skipped
    return out


def bench_bundle(
    req: BenchRequest, progress: ProgressFn = no_progress, cancel: CancelFn = never
) -> Any:
    """Verify, load and benchmark a bundle; returns ``inference.bench.BenchResult``."""
    vb = open_verified(
        req.bundle,
        req.trust_dir,
        progress=lambda n, t: progress(0.2 * n / max(t, 1), "verifying"),
        cancel=cancel,
    )
    check_cancel(cancel, "benchmark")
    progress(0.2, "loading the model")
    golden = vb.manifest.golden
    target = BenchTarget(
        vb.model_bytes,
        vb.description,
        None
        if golden is None
        else np.load(io.BytesIO(vb.file_bytes(golden["input"])), allow_pickle=False),
        f"{req.bundle.name}:{vb.manifest.model}",
    )
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
    return bench_model(
        target,
        runs=req.runs,
        seconds=req.seconds,
        warmup=req.warmup,
        threads=req.threads,
        budget_ms=req.budget_ms,
        cancel=poll,
    )
