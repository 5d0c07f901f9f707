"""Decision latency per part in the latency panel (a per-part line is judged by it)."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from edgeconsole.core.parts import MISSED, PartDecision
from edgeconsole.ui.decision_chart import WAITING_TEXT, DecisionLog
from edgeconsole.ui.latency_panel import LatencyPanel


def part(pid: int, ms: float, *, budget: float = 5.0, missed: bool = False) -> PartDecision:
    return PartDecision(
        part_id=pid,
        verdict=MISSED if missed else "ok",
        passed=not missed,
        trigger="line",
        trigger_frame=pid,
        decided_frame=pid,
        trigger_ns=1_000_000,
        decided_ns=1_000_000 + round(ms * 1e6),
        box=(0.0, 0.0, 10.0, 10.0),
        budget_ms=budget,
    )


def test_log_percentiles_are_real_parts_and_missed_parts_are_counted_apart() -> None:
    log = DecisionLog(capacity=200)
    assert log.percentiles() is None and log.readout_html() == WAITING_TEXT
    log.add([part(i, 1.0 + i / 100) for i in range(199)] + [part(199, 12.0)])
    log.add([part(300, 0.0, missed=True)])
    p50, p99 = log.percentiles()  # type: ignore[misc]
    assert p50 == 2.0 and p99 == 2.98  # real parts' times, not interpolations
    assert (log.decided, log.late_total, log.missed) == (200, 1, 1)
    log.budget_ms = 5.0
    text = log.readout_html()
    assert "p99 2.98 ms" in text and "within the 5 ms budget" in text
    assert "<b>1</b> late" in text and "<b>1</b> missed" in text
    # The window keeps the newest parts; the totals keep counting.
    log.add([part(400 + i, 9.0) for i in range(200)])
    assert log.percentiles() == (9.0, 9.0) and log.decided == 400
    assert "over the 5 ms budget" in log.readout_html()
    assert "newest 200" in log.readout_html()


def test_panel_shows_decisions_first_while_a_line_runs(qtbot: QtBot) -> None:
    panel = LatencyPanel()
    qtbot.addWidget(panel)
    panel.resize(1200, 400)
    panel.show()
    assert not panel.parts_mode and panel.histogram_slot.isVisible()
    panel.set_budget(5.0)
    # Decisions before the plots exist are kept and drawn by the build.
    panel.add_decisions([part(1, 2.0), part(2, 7.5), part(3, 0.0, missed=True)])
    panel.set_parts_mode(True)
    assert panel.parts_mode and not panel.histogram_slot.isVisible()
    assert panel.splitter.widget(0) is panel.decisions  # first, left of the frame stages
    assert panel.dirty
    panel.build_plots()
    assert not panel.dirty
    chart = panel.decisions.chart
    assert chart.in_time is not None and chart.over is not None
    assert list(chart.in_time.getData()[0]) == [1.0] and list(chart.over.getData()[0]) == [2.0]
    assert chart.budget_line is not None and chart.budget_line.value() == 5.0
    text = panel.decisions.readout.text()
    assert "p99 7.50 ms" in text and "over the 5 ms budget" in text and "<b>1</b> missed" in text
    # New parts: drawn on the next redraw, the frame stages keep theirs.
    panel.add_decisions([part(4, 1.0)])
    assert panel.dirty
    panel.redraw()
    assert not panel.dirty and list(chart.in_time.getData()[0]) == [1.0, 4.0]
    # A new run starts clean; a frame model brings the histogram back.
    panel.reset()
    assert panel.decisions.readout.text() == WAITING_TEXT and len(chart.in_time.getData()[0]) == 0
    panel.set_parts_mode(False)
    assert not panel.parts_mode and panel.histogram_slot.isVisible()


def test_a_lines_frames_are_not_held_to_the_decision_budget(qtbot: QtBot) -> None:
    from PySide6.QtGui import QColor

    from edgeconsole.ui.theme import COLOURS

    from . import builders

    panel = LatencyPanel()
    qtbot.addWidget(panel)
    panel.set_budget(45.0)
    stats = builders.stats(builders.samples(1, 200), budget=45.0, first_ms=321.0)
    panel.apply_stats(stats)  # frame mode: frames against the budget, over ones red
    assert "over" in panel.summary.text()
    assert panel.table.cell("e2e", "p99").foreground().color() == QColor(COLOURS.fail)
    panel.set_parts_mode(True)  # a line: the budget is each part's decision
    panel.apply_stats(stats)
    assert "over" not in panel.summary.text()
    assert "budget applies to each part's decision" in panel.summary.text()
    assert panel.table.cell("e2e", "p99").foreground().color() != QColor(COLOURS.fail)
