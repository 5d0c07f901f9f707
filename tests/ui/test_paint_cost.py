"""What the window repaints, and what it leaves alone (issue 15: a paint costs little,
and nothing repaints that did not change).

Counted, never timed: paint and layout events on real widgets (offscreen), and the
pixels the stage chart draws.
"""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication, QStatusBar, QWidget
from pytestqt.qtbot import QtBot

from edgeconsole.core.clock import now_ns
from edgeconsole.ui.latency_charts import STACK, stage_colour
from edgeconsole.ui.latency_panel import LatencyPanel
from edgeconsole.ui.main_window import MainWindow
from edgeconsole.ui.plot_style import nice_ceiling
from edgeconsole.ui.status_panel import StatusPanel

from . import builders
from .test_decision_chart import part


class Counter(QObject):
    """Counts events of one type delivered to one object."""

    def __init__(self, target: QObject, kind: QEvent.Type) -> None:
        super().__init__()
        self.kind = kind
        self.count = 0
        target.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == self.kind:
            self.count += 1
        return False


def settle(qtbot: QtBot, widget: QWidget) -> None:
    """Let every paint and layout the widget has asked for happen."""
    qtbot.waitExposed(widget)
    for _ in range(3):
        QApplication.processEvents()
        QApplication.sendPostedEvents()


def shown_panel(qtbot: QtBot) -> LatencyPanel:
    panel = LatencyPanel()
    qtbot.addWidget(panel)
    panel.set_orientation(Qt.Orientation.Horizontal)
    panel.resize(1400, 320)
    panel.show()
    panel.build_plots()
    settle(qtbot, panel)
    return panel


def test_bands_are_drawn_opaque_in_the_legend_colours(qtbot: QtBot) -> None:
    """Each stage's band shows its own colour exactly: no translucent fills blended
    over one another (each pixel of the old chart was filled once per stage)."""
    panel = shown_panel(qtbot)
    panel.add_samples(builders.samples(1, 200))
    panel.redraw()
    settle(qtbot, panel)
    assert panel.chart.plot is not None
    image = panel.chart.plot.grab().toImage()
    found = {
        image.pixelColor(x, y).name()
        for x in range(0, image.width(), 3)
        for y in range(0, image.height(), 3)
    }
    for name in ("capture", "preprocess", "infer", "postprocess"):
        assert QColor(stage_colour(name)).name() in found, name


def test_band_pixels_follow_the_stacked_times(qtbot: QtBot) -> None:
    panel = shown_panel(qtbot)
    data = builders.samples(1, 300)
    panel.add_samples(data)
    panel.redraw()
    assert panel.chart.bands is not None
    pixels = panel.chart.bands.pixels()
    height = pixels.shape[0]
    assert pixels.shape[1] > 100 and height > 50
    # The newest frame's column: each band as tall as its stage, bottom band first.
    column = pixels[:, -2]
    x, _top = panel.chart.band(len(STACK) - 1)
    assert x[-1] == 300
    y1 = panel.chart._ranges[2] if panel.chart._ranges else 0.0
    for i, name in enumerate(STACK[:4]):
        expected = data[-1].stages[name] / y1 * height
        assert abs(int(np.count_nonzero(column == i + 1)) - expected) <= 1.5, name
    assert column[0] == 0 and column[-1] == 1  # background above, capture at the bottom


def test_new_samples_do_not_move_the_axes(qtbot: QtBot) -> None:
    """The x axis counts frames back from the newest: a redraw with new samples keeps
    the ranges (a new range relaid and repainted both axes on every redraw)."""
    panel = shown_panel(qtbot)
    panel.add_samples(builders.samples(1, 40))
    panel.redraw()
    assert panel.chart.plot is not None
    item = panel.chart.plot.getPlotItem()
    changes: list[object] = []
    item.getViewBox().sigRangeChanged.connect(lambda *a: changes.append(a))
    before = item.viewRange()
    for start in range(41, 200, 7):
        panel.add_samples(builders.samples(start, 7))
        panel.redraw()
    assert item.viewRange() == before and changes == []
    assert panel.chart.e2e()[0][-1] == 201


def test_decision_chart_axes_move_in_steps_not_with_every_part(qtbot: QtBot) -> None:
    panel = shown_panel(qtbot)
    panel.set_parts_mode(True)
    panel.set_budget(5.0)
    assert panel.decisions.chart.plot is not None
    item = panel.decisions.chart.plot.getPlotItem()
    changes: list[object] = []
    panel.add_decisions([part(1, 3.0)])
    panel.redraw()
    item.getViewBox().sigRangeChanged.connect(lambda *a: changes.append(a))
    for pid in range(2, 19):
        panel.add_decisions([part(pid, 3.0 + pid / 10)])
        panel.redraw()
    assert changes == []  # 18 parts, one step of the x axis, a top that did not grow
    x0, x1 = item.viewRange()[0]
    assert x0 <= 1 and x1 >= 18
    panel.add_decisions([part(25, 3.0)])
    panel.redraw()
    assert len(changes) == 1 and item.viewRange()[0][1] >= 25


def test_histogram_axes_move_in_steps_not_with_every_update(qtbot: QtBot) -> None:
    """New stats change the longest frame and the tallest bin nearly every time; the
    ranges (and so the axes, drawn again on every change) move only in nice steps."""
    from dataclasses import replace

    panel = shown_panel(qtbot)
    assert panel.histogram.plot is not None
    item = panel.histogram.plot.getPlotItem()
    base = builders.stats(builders.samples(1, 100))

    def with_bins(longest_ms: float, tallest: int) -> object:
        edges = [longest_ms * i / 10 for i in range(11)]
        counts = [tallest if i == 4 else 3 + i for i in range(10)]
        return replace(base, histogram_edges=edges, histogram_counts=counts, samples=sum(counts))

    panel.histogram.apply(with_bins(51.0, 21))  # type: ignore[arg-type]
    changes: list[object] = []
    item.getViewBox().sigRangeChanged.connect(lambda *a: changes.append(a))
    for longest, tallest in ((52.0, 23), (53.5, 26), (55.0, 29), (57.0, 30)):
        panel.histogram.apply(with_bins(longest, tallest))  # type: ignore[arg-type]
    assert changes == []
    panel.histogram.apply(with_bins(90.0, 44))  # type: ignore[arg-type]
    assert len(changes) >= 1 and item.viewRange()[0][1] >= 90.0


def test_same_stats_again_repaint_nothing(qtbot: QtBot) -> None:
    """Stopped or idle, the session hands the same stats to every tick; the table,
    histogram and summary must not repaint for them."""
    panel = shown_panel(qtbot)
    data = builders.samples(1, 120)
    panel.apply_stats(builders.stats(data))
    settle(qtbot, panel)
    assert panel.histogram.plot is not None
    paints = Counter(panel.histogram.plot.viewport(), QEvent.Type.Paint)
    table_paints = Counter(panel.table.viewport(), QEvent.Type.Paint)
    for _ in range(3):
        panel.apply_stats(builders.stats(data))  # equal, not the same object
        settle(qtbot, panel)
    assert paints.count == 0 and table_paints.count == 0
    panel.apply_stats(builders.stats(builders.samples(1, 150)))
    settle(qtbot, panel)
    assert paints.count >= 1  # new numbers are drawn


def test_counters_in_the_status_bar_never_relayout_it(qtbot: QtBot) -> None:
    """fps and frame counters change on every tick; a label that changes width makes
    the status bar relayout and repaint all its labels."""
    bar = QStatusBar()
    qtbot.addWidget(bar)
    panel = StatusPanel(bar)
    bar.resize(1200, 30)
    bar.show()
    panel.apply(builders.update(index=None).status)  # the state label says RUNNING
    settle(qtbot, bar)
    layouts = Counter(bar, QEvent.Type.LayoutRequest)
    for i, n in enumerate((9, 99, 9_999, 1_234_567)):
        status = builders.update(index=None).status
        status.frames, status.fps, status.dropped = n, 10.0 * (i + 1), n // 3
        panel.apply(status)
        settle(qtbot, bar)
    assert panel.frames.text() == "frames 1234567"
    assert layouts.count == 0
    # The widest text still fits whole.
    fm = panel.frames.fontMetrics()
    assert fm.horizontalAdvance(panel.frames.text()) <= panel.frames.contentsRect().width()


@pytest.mark.parametrize("hide", ["close", "tab"])
def test_hidden_latency_dock_is_not_drawn_until_seen(
    qtbot: QtBot, window: MainWindow, hide: str
) -> None:
    window.poll_loop.stop()
    window.chart_interval_ns = 0
    far = now_ns() + 10**11
    window.apply_update(builders.update(index=1, n_samples=5), far)
    redraws = window.latency.chart.redraws
    if hide == "close":
        window.latency_dock.toggleViewAction().trigger()  # View menu: Latency off
    else:
        window.tabifyDockWidget(window.latency_dock, window.log_dock)
        window.log_dock.raise_()
    settle(qtbot, window)
    for i in range(2, 6):
        window.apply_update(builders.update(index=i * 10, n_samples=5), far)
    assert window.latency.chart.redraws == redraws and window.latency.dirty
    assert len(window.latency.chart.ring) == 25  # kept
    if hide == "close":
        window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, window.latency_dock)
        window.latency_dock.show()
    else:
        window.latency_dock.raise_()
    # The window animates docks into place: shown once its region is on the screen.
    qtbot.waitUntil(lambda: not window.latency.visibleRegion().isEmpty(), timeout=10_000)
    window.apply_update(builders.update(index=None), far)
    assert window.latency.chart.redraws == redraws + 1 and not window.latency.dirty


def test_nice_ceiling() -> None:
    assert nice_ceiling(0.0) == 1.0 and nice_ceiling(float("nan")) == 1.0
    assert nice_ceiling(4.2) == 5.0 and nice_ceiling(11) == 15.0 and nice_ceiling(61) == 80.0
    assert nice_ceiling(80) == 80.0 and nice_ceiling(81) == 100.0


def test_status_counters_are_rewritten_a_few_times_a_second_not_every_frame(
    qtbot: QtBot,
) -> None:
    """A counter rewritten repaints its label with the next frame: at most every
    ``counter_interval_s`` while running, at once when the run stops."""
    bar = QStatusBar()
    qtbot.addWidget(bar)
    panel = StatusPanel(bar, counter_interval_s=60.0)
    bar.resize(1200, 30)
    bar.show()
    status = builders.update(index=None).status
    idle = builders.update(state="idle", index=None).status
    idle.frames = 0
    panel.apply(idle)  # the window ticks while idle, then a run starts: shown at once
    status.frames = 10
    panel.apply(status)
    assert panel.frames.text() == "frames 10"
    settle(qtbot, bar)
    paints = Counter(panel.frames, QEvent.Type.Paint)
    for n in range(11, 40):
        status.frames = n
        panel.apply(status)
        settle(qtbot, bar)
    assert panel.frames.text() == "frames 10" and paints.count == 0
    status.state = "stopped"
    panel.apply(status)
    assert panel.frames.text() == "frames 39"
