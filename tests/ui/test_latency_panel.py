from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtGui import QColor
from pytestqt.qtbot import QtBot

from edgeconsole.core.frames import STAGES
from edgeconsole.ui.latency_panel import ROWS, LatencyPanel, SampleRing, fmt_ms
from edgeconsole.ui.theme import COLOURS

from . import builders


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
    fills_before = list(panel.chart._fills)
    items_before = len(panel.chart.getPlotItem().items)
    data = builders.samples(1, 80)
    panel.add_samples(data[:40])
    assert panel.dirty
    panel.redraw()
    panel.add_samples(data[40:])
    panel.redraw()
    assert not panel.dirty
    # Same items, new data: nothing re-created per redraw.
    assert panel.chart._fills == fills_before
    assert len(panel.chart.getPlotItem().items) == items_before
    x, top = panel.chart._fills[-1].getData()
    assert len(x) == 50 and x[0] == 31 and x[-1] == 80
    last = data[-1]
    stacked_top = sum(last.stages.values()) + last.unaccounted_ms
    assert top[-1] == pytest.approx(stacked_top)
    # The bottom band is the capture stage alone.
    assert panel.chart._fills[0].getData()[1][-1] == pytest.approx(last.stages[STAGES[0]])
    _x, ey = panel.chart.e2e_curve.getData()
    assert ey[-1] == pytest.approx(last.e2e_ms)


def test_budget_line_table_and_histogram(qtbot: QtBot) -> None:
    panel = LatencyPanel()
    qtbot.addWidget(panel)
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
    panel.apply_stats(builders.stats([], budget=None, first_ms=None))
    assert panel.table.cell_text("e2e", "p50") == "—"
    assert panel.histogram.counts == []
    panel.add_samples(builders.samples(1, 5))
    panel.redraw()
    panel.reset()
    assert (
        panel.chart._fills[0].getData()[0] is None or len(panel.chart._fills[0].getData()[0]) == 0
    )
    assert np.isfinite(panel.chart.getPlotItem().viewRange()[1][1])
