"""The figures, from hand-made records (unit level: no model involved)."""

from __future__ import annotations

import pytest

from edgeconsole.commission import metrics as mx


def rec(i: int, truth: str, pred: str | None, e2e: float = 10.0, **kw: object) -> mx.SampleRecord:
    stages = {"preprocess": e2e * 0.1, "infer": e2e * 0.8, "postprocess": e2e * 0.1}
    return mx.SampleRecord(i, f"f{i}.png", truth, pred, 0.9, e2e, stages, **kw)  # type: ignore[arg-type]


def test_confusion_precision_recall_with_an_off_list_prediction() -> None:
    records = [
        rec(0, "a", "a"),
        rec(1, "a", "b"),
        rec(2, "b", "b"),
        rec(3, "b", "(no part)"),
        rec(4, "a", None),  # unreadable: not in the matrix
    ]
    rows, cols, m = mx.confusion(records, ["a", "b"])
    assert rows == ["a", "b"] and cols == ["a", "b", "(no part)"]
    assert m == [[1, 1, 0], [0, 1, 1]]
    pc = mx.per_class(rows, cols, m)
    assert pc["a"] == {"support": 2, "precision": 1.0, "recall": 0.5}
    assert pc["b"] == {"support": 2, "precision": 0.5, "recall": 0.5}


def test_latency_holds_out_the_first_inference_and_reports_the_real_tail() -> None:
    records = [rec(0, "a", "a", 500.0, first=True)] + [
        rec(i, "a", "a", float(i)) for i in range(1, 101)
    ]
    lat = mx.latency(records)
    assert lat["first_inference_ms"] == 500.0
    assert lat["count"] == 100
    assert lat["e2e"]["p50"] == 51.0  # numpy "higher": a value really seen
    assert lat["e2e"]["p99"] == 100.0 and lat["e2e"]["max"] == 100.0
    name, share = mx.dominant_stage(lat) or ("", 0.0)
    assert name == "infer" and share == pytest.approx(0.8)


def test_line_rate_sentence_keeps_up_and_falls_behind() -> None:
    lat = mx.latency([rec(i, "a", "a", 143.0 if i == 99 else 100.0) for i in range(100)])
    crit, text = mx.line_rate_check(lat, 300, None)
    assert crit.passed
    assert text.startswith(
        "At 300 parts/min a part arrives every 200 ms. Decision p99 is 143 ms: it keeps up "
        "(about 420 parts/min at that pace)."
    )
    assert "Infer dominates (80%)" in text
    crit, text = mx.line_rate_check(lat, 600, None)
    assert not crit.passed and "FALLS BEHIND the line by 43 ms a part" in text
    # a tighter decision budget is the limit, and the sentence says so
    crit, text = mx.line_rate_check(lat, 300, 120.0)
    assert not crit.passed and crit.limit == "<= 120.0 ms"
    assert "it keeps up (about 420 parts/min at that pace), but is over the 120 ms" in text
    crit, text = mx.line_rate_check(mx.latency([]), 300, None)
    assert not crit.passed and "unknown" in text


def test_line_rate_sentences_agree_with_each_other() -> None:
    """Issue 12: '300 parts/min leaves 200 ms ... FALLS BEHIND by 17 ms ... capacity about
    12,700 parts/min' said three things at once. Now the keep-up clause, the capacity and
    the budget clause all follow from one p99, whatever the figures."""
    import re

    for p99 in (2.0, 4.7, 5.0, 21.7, 150.0, 199.0, 200.0, 260.0):
        lat = mx.latency([rec(i, "a", "a", p99 if i >= 97 else 1.0) for i in range(100)])
        for rate in (60.0, 300.0, 600.0, 12000.0):
            for budget in (None, 5.0, 250.0):
                crit, text = mx.line_rate_check(lat, rate, budget)
                cap = float(re.search(r"about ([\d,]+) parts/min", text).group(1).replace(",", ""))
                keeps = "keeps up" in text
                assert keeps != ("FALLS BEHIND" in text)
                assert keeps == (cap >= rate - 1), (p99, rate, budget, text)
                over = budget is not None and "over the" in text
                assert crit.passed == (keeps and not over), (p99, rate, budget, text)


def test_histogram_spans_the_budget() -> None:
    edges, counts = mx.histogram([rec(i, "a", "a", 5.0) for i in range(10)], 50.0, bins=10)
    assert edges[-1] >= 50.0 and sum(counts) == 10
    assert mx.histogram([], 5.0) == ([], [])
