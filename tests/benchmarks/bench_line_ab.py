"""bench_line's fast-bundle cases, two source trees alternately, in one run (issue 12).

A change to the decision path is judged against the code before it under the same
machine load: each case (parts/min x busy process x priority) runs once per tree
per round, in a fresh process each (``bench_line.live`` from that tree), the order
A, B in even rounds and B, A in odd ones so that a load drifting during the run
does not favour one side. Decisions are pooled per tree and case across rounds.

A tree is a checkout with its own ``edgeconsole/`` and ``tests/`` (``git worktree
add`` or ``git archive REV | tar -x -C DIR``); both run with this interpreter, so
the two trees must need the same dependencies.

Prints one JSON line per run, then a summary: per case and tree the pooled
decision p50/p99, the stage p50s (``path_ms``), every run's load average, and the
ratio B / A of the pooled p50 and p99.

Run: .venv/bin/python -m tests.benchmarks.bench_line_ab --a /tmp/base --b . \
     [--seconds 8] [--rounds 2] [--ppm 300,600] [--busy 0,1] [--priority normal,rt]
Run it under ``flock /work/shared/bench.lock`` on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

#: Run in the tree's own process: one case, its decisions and stages as JSON.
#: ``live`` returns percentiles only; the decision times themselves (to pool rounds) are
#: the list its ``stats`` summarised into ``decision_ms``, caught on the way.
_CHILD = """
import json, sys
import tests.benchmarks.bench_line as bl
from tests.benchmarks.bench_partqc import busy
seen = []
def stats(ms):
    seen.append(list(ms))
    return real_stats(ms)
real_stats, bl.stats = bl.stats, stats
ppm, n_busy, seconds = float(sys.argv[1]), int(sys.argv[2]), float(sys.argv[4])
with busy(n_busy):
    r = bl.live("label_orientation", ppm, seconds, rt_priority=sys.argv[3] == "rt")
keep = ("load_before", "load_after", "decided", "crossed", "decided_over_crossed", "missed",
        "duplicates", "late", "decision_ms", "path_ms", "scheduling")
all_ms = next((m for m in seen if real_stats(m) == r["decision_ms"]), [])
print("RESULT " + json.dumps({k: r.get(k) for k in keep} | {"all_ms": all_ms}))
"""


def _pct(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (as bench_partqc.stats)."""
    if not values:
        return None
    a = np.sort(np.asarray(values, dtype=np.float64))
    return round(float(a[max(0, int(np.ceil(a.size * q / 100)) - 1)]), 3)


def run_case(tree: Path, ppm: float, n_busy: int, prio: str, seconds: float) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    args = [str(ppm), str(n_busy), prio, str(seconds)]
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, *args],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=seconds * 10 + 300,
        check=False,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            out: dict[str, Any] = json.loads(line[len("RESULT ") :])
            return out
    raise RuntimeError(f"{tree}: no result (exit {proc.returncode}): {proc.stderr[-2000:]}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--a", type=Path, required=True, help="tree A (the baseline)")
    ap.add_argument("--b", type=Path, required=True, help="tree B (the change)")
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--ppm", default="300,600")
    ap.add_argument("--busy", default="0,1")
    ap.add_argument("--priority", default="normal,rt")
    args = ap.parse_args()
    trees = {"A": args.a.resolve(), "B": args.b.resolve()}
    cases = [
        (float(p), int(b), prio)
        for b in args.busy.split(",")
        for p in args.ppm.split(",")
        for prio in args.priority.split(",")
    ]
    pooled: dict[str, dict[str, Any]] = {}
    for rnd in range(args.rounds):
        for ppm, n_busy, prio in cases:
            order = ("A", "B") if rnd % 2 == 0 else ("B", "A")
            for side in order:
                r = run_case(trees[side], ppm, n_busy, prio, args.seconds)
                key = f"{int(ppm)} ppm, busy {n_busy}, {prio}"
                slot = pooled.setdefault(key, {}).setdefault(
                    side, {"decision_ms": [], "loads": [], "runs": []}
                )
                slot["decision_ms"].extend(r.pop("all_ms") or [])
                slot["loads"].append(r["load_before"])
                slot["runs"].append(r)
                d = r["decision_ms"]
                print(
                    json.dumps(
                        {
                            "round": rnd,
                            "case": key,
                            "tree": side,
                            "load": r["load_before"],
                            "p50": d.get("p50"),
                            "p99": d.get("p99"),
                            "decided_over_crossed": r["decided_over_crossed"],
                            "missed": r["missed"],
                            "duplicates": r["duplicates"],
                            "stages_p50": {
                                k: v["p50"] for k, v in r["path_ms"].items() if isinstance(v, dict)
                            },
                        }
                    ),
                    flush=True,
                )
    summary: dict[str, Any] = {"trees": {k: str(v) for k, v in trees.items()}, "cases": {}}
    for key, sides in pooled.items():
        row: dict[str, Any] = {}
        for side, s in sides.items():
            ms = s["decision_ms"]
            stages: dict[str, float | None] = {}
            for stage in s["runs"][0]["path_ms"]:
                vals = [r["path_ms"][stage]["p50"] for r in s["runs"] if stage != "sum_of_p50"]
                if stage != "sum_of_p50":
                    stages[stage] = _pct([v for v in vals if v is not None], 50)
            row[side] = {
                "n": len(ms),
                "p50": _pct(ms, 50),
                "p99": _pct(ms, 99),
                "max": _pct(ms, 100),
                "loads": s["loads"],
                "stages_p50_median_of_runs": stages,
                "all_decided_once": all(
                    r["decided_over_crossed"] == 1.0 and not r["missed"] and not r["duplicates"]
                    for r in s["runs"]
                ),
            }
        if "A" in row and "B" in row:
            for q in ("p50", "p99"):
                a, b = row["A"][q], row["B"][q]
                row[f"ratio_b_over_a_{q}"] = round(b / a, 3) if a and b else None
        summary["cases"][key] = row
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
