"""``edgeconsole bench MODEL_OR_BUNDLE``: latency of one model on this machine."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from edgeconsole.core.errors import ConfigError


def register(sub: Any) -> None:
    b = sub.add_parser(
        "bench",
        help="benchmark a model, description or bundle",
        description="Time session.run on this machine: first inference apart, "
        "then p50/p90/p95/p99/p99.9/min/max, throughput, CPU use, peak memory, "
        "and pass/fail against the latency budget (p95).",
    )
    b.add_argument("target", type=Path, help="MODEL.onnx, model.json, a folder, or B.ecb")
    g = b.add_mutually_exclusive_group()
    g.add_argument("--runs", type=int, help="timed runs (default 200)")
    g.add_argument("--seconds", type=float, help="run for this long instead")
    b.add_argument("--warmup", type=int, default=10)
    b.add_argument("--threads", type=int, help="onnxruntime intra-op threads")
    b.add_argument("--providers", nargs="+", help="execution providers (default CPU)")
    b.add_argument("--budget-ms", type=float, help="override the model's latency budget")
    b.add_argument("--trust", type=Path, help="trust store (required for .ecb)")
    b.add_argument("--json", action="store_true")
    c = b.add_argument_group(
        "compare",
        "every installed execution provider and thread count side by side, interleaved; "
        "peer runtimes (another onnxruntime build in its own venv, e.g. .venv-openvino "
        "from './run openvino') are found in the working directory or given",
    )
    c.add_argument("--compare", action="store_true", help="compare providers and threads")
    c.add_argument(
        "--compare-threads",
        type=int,
        nargs="+",
        default=[1, 2],
        metavar="N",
        help="thread counts to compare (default 1 2)",
    )
    c.add_argument(
        "--runtime",
        action="append",
        default=[],
        metavar="PYTHON",
        help="a peer runtime's Python (repeatable; also $EDGECONSOLE_RUNTIMES)",
    )
    c.add_argument("--rounds", type=int, default=10, help="interleaved rounds (default 10)")
    b.set_defaults(func=_bench)


def _bench(args: argparse.Namespace) -> int:
    from edgeconsole.session.workshop import bench_model, load_bench_target

    if args.warmup < 0:
        raise ConfigError("--warmup must not be negative")
    target = load_bench_target(args.target, args.trust)
    if args.compare:
        return _compare(args, target)
    r = bench_model(
        target,
        runs=args.runs,
        seconds=args.seconds,
        warmup=args.warmup,
        threads=args.threads,
        providers=args.providers,
        budget_ms=args.budget_ms,
    )
    label = target.label
    if args.json:
        print(json.dumps(r.to_json(), indent=2))
        return 0
    print(
        f"{label}  providers {', '.join(r.providers)}  threads {r.threads or 'auto'}  "
        f"input {r.input_shapes}"
    )
    print(f"  load {r.load_ms:.1f} ms, first inference {r.first_inference_ms:.3f} ms")
    print(
        f"  {r.runs} runs: p50 {r.p50_ms:.3f}  p90 {r.p90_ms:.3f}  p95 {r.p95_ms:.3f}  "
        f"p99 {r.p99_ms:.3f}  p99.9 {r.p999_ms:.3f}  min {r.min_ms:.3f}  max {r.max_ms:.3f} ms"
    )
    print(
        f"  throughput {r.throughput_per_s:.1f}/s, CPU {r.cpu_percent:.0f}% of one core, "
        f"peak RSS {r.peak_rss_mb:.0f} MB"
    )
    print(f"  {r.verdict}")
    return 0


def _compare(args: argparse.Namespace, target: Any) -> int:
    import sys

    from edgeconsole.session.workshop import compare_runtimes

    if args.seconds is not None:
        raise ConfigError("--compare runs a fixed number of runs: use --runs, not --seconds")
    if args.rounds < 1:
        raise ConfigError("--rounds must be at least 1")

    def progress(text: str) -> None:
        if not args.json:
            print(f"  {text}", file=sys.stderr, flush=True)

    out = compare_runtimes(
        target,
        runs=args.runs,
        rounds=args.rounds,
        threads=args.compare_threads,
        peers=args.runtime,
        progress=progress,
    )
    label, skipped = target.label, out["skipped_runtimes"]
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"{label}  input {out['input_shapes']}  ({args.rounds} interleaved rounds)")
    for row in out["variants"]:
        if row["error"]:
            print(f"  {row['name']:58}  failed: {row['error']}")
            continue
        print(
            f"  {row['name']:58}  p50 {row['p50_ms']:8.3f}  p99 {row['p99_ms']:8.3f} ms  "
            f"x{row['p50_vs_baseline']:.2f} / x{row['p99_vs_baseline']:.2f} vs baseline  "
            f"(load {row['load_ms']:.0f} ms)"
        )
    for s in skipped:
        print(f"  runtime {s['python']} skipped: {s['error']}")
    print(f"  fastest: p50 {out['fastest_p50']}; p99 {out['fastest_p99']}")
    return 0
