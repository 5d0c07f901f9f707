from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from edgeconsole.core.frames import STAGES
from edgeconsole.ui.deferred_plots import PLACEHOLDER_TEXT
from edgeconsole.ui.latency_panel import ROWS, LatencyPanel, SampleRing, fmt_ms
from edgeconsole.ui.theme import COLOURS

from . import builders


def plot_item(panel: LatencyPanel) -> Any:
    assert panel.chart.plot is not None, "plots not built"
    return panel.chart.plot.getPlotItem()


def test_ring_orders_wraps_and_keeps_newest_of_oversized_batch() -> None:
    ring = SampleRing(capacity=10)
    ring.extend(builders.samples(1, 4))
    x, rows = ring.ordered()
    assert list(x) == [1, 2, 3, 4] and rows.shape == (len(ROWS), 4)
    ring.extend(builders.samples(5, 9))  # wraps
    x, _ = ring.ordered()
    assert list(x) == list(range(4, 14)) and len(ring) == 10
    ring.extend(builders.samples(100, 25))  # more than the capacity in one batch
    x, rows = ring.ordered()
    assert list(x) == list(range(115, 125))
    last = builders.samples(124, 1)[0]
    assert rows[-1, -1] == pytest.approx(last.e2e_ms)
    assert rows[ROWS.index("infer"), -1] == pytest.approx(last.stages["infer"])
    ring.clear()
    assert len(ring) == 0 and ring.ordered()[0].size == 0


def test_fmt_ms() -> None:
    assert fmt_ms(None) == "—" and fmt_ms(float("nan")) == "—"
    assert fmt_ms(1.234) == "1.23" and fmt_ms(12.34) == "12.3" and fmt_ms(123.4) == "123"


def test_stacked_chart_updates_existing_curves(qtbot: QtBot) -> None:
    panel = LatencyPanel(capacity=50)
    qtbot.addWidget(panel)
    panel.build_plots()
    bands_before = panel.chart.bands
    items_before = len(plot_item(panel).items)
    data = builders.samples(1, 80)
    panel.add_samples(data[:40])
    assert panel.dirty
    panel.redraw()
    panel.add_samples(data[40:])
    panel.redraw()
    assert not panel.dirty
    # Same items, new data: nothing re-created per redraw.
    assert panel.chart.bands is bands_before is not None
    assert len(plot_item(panel).items) == items_before
    x, top = panel.chart.band(-1)
    assert len(x) == 50 and x[0] == 31 and x[-1] == 80
    last = data[-1]
    stacked_top = sum(last.stages.values()) + last.unaccounted_ms
    assert top[-1] == pytest.approx(stacked_top)
    # The bottom band is the capture stage alone.
    assert panel.chart.band(0)[1][-1] == pytest.approx(last.stages[STAGES[0]])
    _x, ey = panel.chart.e2e()
    assert ey[-1] == pytest.approx(last.e2e_ms)


def test_budget_line_table_and_histogram(qtbot: QtBot) -> None:
    panel = LatencyPanel()
    qtbot.addWidget(panel)
    panel.build_plots()
    panel.set_budget(None)
    assert not panel.chart.budget_line.isVisible()
    panel.set_budget(45.0)
    assert panel.chart.budget_line.value() == 45.0
    assert panel.histogram.budget_line.value() == 45.0
    data = builders.samples(1, 200)  # e2e 40..49 ms, so some are over a 45 ms budget
    stats = builders.stats(data, budget=45.0, first_ms=321.0)
    panel.apply_stats(stats)
    e2e = stats.rolling["e2e"]
    assert panel.table.cell_text("e2e", "p50") == fmt_ms(e2e.p50)
    assert panel.table.cell_text("e2e", "p99") == fmt_ms(e2e.p99)
    assert panel.table.cell_text("e2e", "max") == fmt_ms(e2e.max)
    assert panel.table.cell_text("infer", "run p99") == fmt_ms(stats.run["infer"].p99)
    # The first inference (321 ms) is kept out of the table and shown on its own.
    assert panel.table.cell_text("infer", "max") != fmt_ms(321.0)
    assert "321" in panel.summary.text() and "over" in panel.summary.text()
    # Over-budget percentiles are red, the rest normal.
    p99_item = panel.table.cell("e2e", "p99")
    p50_item = panel.table.cell("e2e", "p50")
    assert p99_item.foreground().color() == QColor(COLOURS.fail)
    assert p50_item.foreground().color() != QColor(COLOURS.fail)
    # Histogram: bins split at the budget into an ok and an over series.
    under = panel.histogram.under.getData()[1]
    over = panel.histogram.over.getData()[1]
    assert sum(under) + sum(over) == sum(stats.histogram_counts) == len(data)
    assert sum(over) > 0 and sum(under) > 0
    assert panel.histogram.p99_line.value() == pytest.approx(e2e.p99)


def test_empty_stats_and_reset(qtbot: QtBot) -> None:
    panel = LatencyPanel()
    qtbot.addWidget(panel)
    panel.build_plots()
    panel.apply_stats(builders.stats([], budget=None, first_ms=None))
    assert panel.table.cell_text("e2e", "p50") == "—"
    assert panel.histogram.counts == []
    panel.add_samples(builders.samples(1, 5))
    panel.redraw()
    panel.reset()
    assert len(panel.chart.band(0)[0]) == 0
    assert np.isfinite(plot_item(panel).viewRange()[1][1])


def drawn(panel: LatencyPanel) -> tuple[list[float], list[float], list[float]]:
    """Frame indices, stacked top and end-to-end as the stage chart's curves hold them."""
    assert panel.chart.e2e_curve is not None
    x, top = panel.chart.band(-1)
    _x, e2e = panel.chart.e2e()
    return list(x), list(top), list(e2e)


def test_everything_called_before_the_build_is_drawn_by_it(qtbot: QtBot) -> None:
    """The window calls the panel from its first tick; the plots come after the first
    paint. Nothing called meanwhile may fail or be lost, and the built panel must
    look exactly like one whose plots existed from the start."""
    late, early = LatencyPanel(capacity=50), LatencyPanel(capacity=50)
    qtbot.addWidget(late)
    qtbot.addWidget(early)
    early.build_plots()
    assert not late.plots_built and late.chart.plot is None and late.histogram.plot is None
    data = builders.samples(1, 70)  # more than the capacity: the ring keeps the newest 50
    stats = builders.stats(data, budget=45.0, first_ms=321.0)
    for panel in (late, early):
        panel.set_orientation(Qt.Orientation.Horizontal)
        panel.set_budget(45.0)
        panel.add_samples(data[:5])
        panel.redraw()
        panel.reset()  # a restart: the first five are gone on purpose
        panel.add_samples(data[5:40])
        assert panel.dirty
        panel.redraw()
        assert not panel.dirty
        panel.add_samples(data[40:])  # left dirty, as past the tick's deadline
        panel.apply_stats(stats)
    assert late.chart.redraws == early.chart.redraws == 3
    assert len(late.chart.ring) == 50 and late.dirty
    assert late.table.cell_text("e2e", "p99") == early.table.cell_text("e2e", "p99") != "—"
    assert late.summary.text() == early.summary.text()
    assert late.histogram.counts == early.histogram.counts and sum(late.histogram.counts) == 70
    assert not late.plots_built

    late.build_plots()
    assert late.plots_built and not late.dirty  # it drew the whole ring
    x, top, e2e = drawn(late)
    assert x == list(range(21, 71))  # the newest 50 of the 65 since the reset
    assert drawn(early)[0][-1] == 40  # the early one still waits for its next redraw
    early.redraw()
    assert (x, top, e2e) == drawn(early)
    assert e2e[-1] == pytest.approx(data[-1].e2e_ms)
    assert late.chart.budget_line is not None and late.histogram.budget_line is not None
    assert late.chart.budget_line.isVisible() and late.chart.budget_line.value() == 45.0
    assert late.histogram.budget_line.isVisible() and late.histogram.budget_line.value() == 45.0
    assert late.histogram.under is not None and late.histogram.over is not None
    hist = list(late.histogram.under.getData()[1]) + list(late.histogram.over.getData()[1])
    assert sum(hist) == len(data)
    assert late.histogram.p99_line is not None and early.histogram.p99_line is not None
    assert late.histogram.p99_line.value() == early.histogram.p99_line.value()
    assert plot_item(late).viewRange() == plot_item(early).viewRange()
    # After the build it behaves as the panel that always had its plots.
    for panel in (late, early):
        panel.add_samples(builders.samples(71, 3))
        panel.redraw()
        panel.set_budget(None)
    assert drawn(late) == drawn(early) and drawn(late)[0][-1] == 73
    assert late.chart.budget_line.isVisible() is False
    late.build_plots()  # once only
    assert late.chart.budget_line is not None and len(plot_item(late).items) == len(
        plot_item(early).items
    )


def test_shown_panel_builds_its_plots_after_its_first_paint(qtbot: QtBot) -> None:
    panel = LatencyPanel()
    qtbot.addWidget(panel)
    panel.add_samples(builders.samples(1, 12))
    panel.resize(900, 500)
    panel.show()
    # show() only schedules the paint; the plots must not be built before it.
    assert not panel.plots_built
    placeholders = panel.findChildren(QLabel, "plotPlaceholder")
    # The stage chart, the histogram and the decisions of a per-part line.
    assert len(placeholders) == 3 and all(p.text() == PLACEHOLDER_TEXT for p in placeholders)
    assert COLOURS.text_dim in placeholders[0].styleSheet()
    qtbot.waitUntil(lambda: panel.plots_built, timeout=10_000)
    assert list(drawn(panel)[0]) == list(range(1, 13))
    assert panel.chart.plot is not None and panel.chart.plot.isVisible()
    assert panel.histogram.plot is not None and panel.histogram.plot.isVisible()
    assert not [p for p in panel.findChildren(QLabel, "plotPlaceholder") if p.isVisible()]
