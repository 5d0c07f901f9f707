"""Figures of a validation run: accuracy, confusion, latency against budget and line rate.

Pure functions over the per-sample records, so the live view (a partial list) and
the final report compute the same numbers the same way. Percentiles use numpy's
``method="higher"`` like the rest of EdgeConsole: a reported tail was really seen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgeconsole.core.frames import STAGES

#: Stages the target's decision is made of (the dataset file read is not one).
DECISION_STAGES: tuple[str, ...] = tuple(s for s in STAGES if s != "capture")


@dataclass
class SampleRecord:
    index: int
    rel: str
    truth: str
    predicted: str | None = None  # None: the image could not be read
    score: float = 0.0
    e2e_ms: float | None = None
    stages_ms: dict[str, float] = field(default_factory=dict)
    first: bool = False  # first inference: held out of the latency figures
    error: str = ""
    shadow: str | None = None
    shadow_score: float | None = None

    @property
    def correct(self) -> bool:
        return self.predicted is not None and self.predicted == self.truth

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "index": self.index,
            "file": self.rel,
            "truth": self.truth,
            "predicted": self.predicted,
            "score": round(self.score, 4),
            "e2e_ms": None if self.e2e_ms is None else round(self.e2e_ms, 3),
            "stages_ms": {k: round(v, 3) for k, v in self.stages_ms.items()},
        }
        if self.first:
            out["first_inference"] = True
        if self.error:
            out["error"] = self.error
        if self.shadow is not None:
            out["shadow"] = self.shadow
        return out


def pct(values: np.ndarray, p: float) -> float:
    return float(np.percentile(values, p, method="higher"))


def confusion(
    records: list[SampleRecord], classes: list[str]
) -> tuple[list[str], list[str], list[list[int]]]:
    """(row labels = truth, column labels = predicted, counts). Predictions outside
    the classes (``(no part)``) get their own columns after the classes."""
    rows = list(classes)
    extra = sorted(
        {r.predicted for r in records if r.predicted is not None and r.predicted not in classes}
    )
    cols = rows + extra
    ri = {c: i for i, c in enumerate(rows)}
    ci = {c: i for i, c in enumerate(cols)}
    m = [[0] * len(cols) for _ in rows]
    for r in records:
        if r.predicted is None or r.truth not in ri:
            continue
        m[ri[r.truth]][ci[r.predicted]] += 1
    return rows, cols, m


def per_class(
    rows: list[str], cols: list[str], m: list[list[int]]
) -> dict[str, dict[str, float | int | None]]:
    out: dict[str, dict[str, float | int | None]] = {}
    for i, c in enumerate(rows):
        tp = m[i][i]
        support = sum(m[i])
        predicted = sum(m[k][i] for k in range(len(rows)))
        out[c] = {
            "support": support,
            "precision": None if predicted == 0 else tp / predicted,
            "recall": None if support == 0 else tp / support,
        }
    return out


def judge_classes(pc: dict[str, dict[str, Any]], min_recall: float, min_samples: int) -> list[str]:
    """Mark each class of ``per_class`` with its ``status`` (pass, fail, not enough
    samples, not in the set) and ``why``; return the classes with too few samples.

    A recall over 4 samples says little (one miss is 75 %, none is 100 % by luck):
    below ``min_samples`` a class cannot pass, whatever its recall."""
    short: list[str] = []
    for c, v in pc.items():
        support = int(v["support"] or 0)
        recall = v["recall"]
        if support == 0:
            v["status"], v["why"] = "not in the set", "no samples of this class"
        elif support < min_samples:
            v["status"] = "not enough samples"
            v["why"] = f"{support} sample(s); a recall needs at least {min_samples}"
            short.append(c)
        elif recall is not None and recall >= min_recall:
            v["status"], v["why"] = "pass", ""
        else:
            v["status"], v["why"] = "fail", f"recall below {min_recall:.1%}"
    return short


def latency(records: list[SampleRecord]) -> dict[str, Any]:
    """Percentiles of end-to-end decision time and of each stage (first inference apart)."""
    timed = [r for r in records if r.e2e_ms is not None and not r.first]
    first = next((r.e2e_ms for r in records if r.first and r.e2e_ms is not None), None)
    out: dict[str, Any] = {"count": len(timed), "first_inference_ms": first}
    if not timed:
        out.update({"e2e": None, "stages": {}})
        return out
    e2e = np.array([r.e2e_ms for r in timed], dtype=np.float64)

    def series(v: np.ndarray) -> dict[str, float]:
        return {
            "p50": pct(v, 50),
            "p95": pct(v, 95),
            "p99": pct(v, 99),
            "max": float(v.max()),
            "mean": float(v.mean()),
        }

    out["e2e"] = series(e2e)
    stages: dict[str, dict[str, float]] = {}
    for s in DECISION_STAGES:
        vals = [r.stages_ms[s] for r in timed if s in r.stages_ms]
        if vals:
            stages[s] = series(np.array(vals, dtype=np.float64))
    out["stages"] = stages
    # Sequential throughput: what one-at-a-time decisions sustain on this target.
    out["throughput_per_s"] = 1000.0 / float(e2e.mean()) if e2e.mean() > 0 else None
    return out


def histogram(
    records: list[SampleRecord], budget_ms: float | None, bins: int = 30
) -> tuple[list[float], list[int]]:
    vals = np.array(
        [r.e2e_ms for r in records if r.e2e_ms is not None and not r.first], dtype=np.float64
    )
    if vals.size == 0:
        return [], []
    hi = max(float(vals.max()), budget_ms or 0.0) * 1.08 or 1.0
    counts, edges = np.histogram(vals, bins=bins, range=(0.0, hi))
    return [float(e) for e in edges], [int(c) for c in counts]


def dominant_stage(lat: dict[str, Any]) -> tuple[str, float] | None:
    """The stage with the largest share of the mean decision time."""
    stages = lat.get("stages") or {}
    e2e = lat.get("e2e")
    if not stages or not e2e or e2e["mean"] <= 0:
        return None
    name = max(stages, key=lambda s: stages[s]["mean"])
    return name, stages[name]["mean"] / e2e["mean"]


@dataclass(frozen=True)
class Criterion:
    name: str
    passed: bool
    value: str
    limit: str
    margin: str
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _ms(v: float) -> str:
    """Milliseconds readable at any scale: 143, 4.7, 0.31."""
    a = abs(v)
    return f"{v:.0f}" if a >= 10 else f"{v:.1f}" if a >= 1 else f"{v:.2f}"


def line_rate_check(
    lat: dict[str, Any], parts_per_min: float, budget_ms: float | None
) -> tuple[Criterion, str]:
    """Does the target keep up with the line, and decide each part in time?

    Two questions, answered from the same p99 so the sentences cannot disagree:
    keeping up (p99 within the interval between parts; the capacity quoted is the
    rate at that p99 pace, so it is above the line rate exactly when it keeps up) and
    being in time (p99 within the decision budget, the reject gate's deadline). The
    criterion passes when both hold: p99 within the smaller of the two."""
    interval = 60000.0 / parts_per_min
    limit = min(interval, budget_ms) if budget_ms is not None else interval
    e2e = lat.get("e2e")
    dom = dominant_stage(lat)
    dom_text = f" {dom[0].capitalize()} dominates ({dom[1] * 100:.0f}%)." if dom else ""
    head = f"At {parts_per_min:g} parts/min a part arrives every {_ms(interval)} ms."
    if e2e is None:
        return (
            Criterion("line rate", False, "no timed samples", f"<= {limit:.1f} ms", "-"),
            f"{head} No decision was timed, so whether the target keeps up is unknown.",
        )
    p99 = e2e["p99"]
    capacity = 60000.0 / p99 if p99 > 0 else float("inf")
    keeps = p99 <= interval
    pace = f"about {capacity:,.0f} parts/min at that pace"
    if keeps:
        body = f"Decision p99 is {_ms(p99)} ms: it keeps up ({pace})"
    else:
        body = (
            f"Decision p99 is {_ms(p99)} ms: it FALLS BEHIND the line by {_ms(p99 - interval)} "
            f"ms a part ({pace})"
        )
    if budget_ms is not None:
        if p99 <= budget_ms:
            joint = " and" if keeps else ", though"
            body += (
                f"{joint} is within the {budget_ms:g} ms decision budget "
                f"({_ms(budget_ms - p99)} ms to spare)."
            )
        else:
            joint = ", but" if keeps else ", and"
            body += (
                f"{joint} is over the {budget_ms:g} ms decision budget by "
                f"{_ms(p99 - budget_ms)} ms: some parts would reach the reject gate undecided."
            )
    else:
        body += "."
    worst = e2e["max"]
    tail = ""
    if p99 <= limit < worst:
        tail = f" The slowest part took {_ms(worst)} ms (isolated misses)."
    crit = Criterion(
        f"line rate {parts_per_min:g}/min",
        p99 <= limit,
        f"p99 {p99:.1f} ms",
        f"<= {limit:.1f} ms",
        f"{limit - p99:+.1f} ms",
    )
    return crit, f"{head} {body}{tail}{dom_text}"
