"""Display work in slices (issue 15): each slice runs after the window has painted what
the one before asked for, so no single event paints everything at once.

Counted and ordered, never timed: paint events on real widgets (offscreen).
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication, QHBoxLayout, QWidget
from pytestqt.qtbot import QtBot

from edgeconsole.core.clock import now_ns
from edgeconsole.ui.main_window import MainWindow
from edgeconsole.ui.paint_slices import PaintSlices

from . import builders


class Paints(QObject):
    """The order paint events reach the watched widgets in."""

    def __init__(self, log: list[str], **widgets: QWidget) -> None:
        super().__init__()
        self.log = log
        self.names = {id(w): n for n, w in widgets.items()}
        for w in widgets.values():
            w.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint and id(watched) in self.names:
            self.log.append("paint " + self.names[id(watched)])
        return False


def two_widgets(qtbot: QtBot) -> tuple[QWidget, QWidget, QWidget]:
    top = QWidget()
    qtbot.addWidget(top)
    a, b = QWidget(), QWidget()
    layout = QHBoxLayout(top)
    layout.addWidget(a)
    layout.addWidget(b)
    top.resize(400, 200)
    top.show()
    qtbot.waitExposed(top)
    for _ in range(3):  # their first paints
        QApplication.processEvents()
    return top, a, b


def test_each_slice_runs_after_the_paint_the_one_before_asked_for(qtbot: QtBot) -> None:
    _top, a, b = two_widgets(qtbot)
    log: list[str] = []
    _paints = Paints(log, a=a, b=b)
    errors: list[BaseException] = []
    slices = PaintSlices(errors.append)

    def step(name: str, widget: QWidget) -> None:
        log.append("step " + name)
        widget.update()

    a.update()  # as the poll tick does with a new frame
    log.append("tick")
    slices.post("a", lambda: step("a", a))
    slices.post("b", lambda: step("b", b))
    qtbot.waitUntil(lambda: log.count("paint b") >= 1 and slices.pending() == 0, timeout=5000)
    assert errors == []
    # The tick's paint, then each slice followed by its own paint: never two together.
    assert log == ["tick", "paint a", "step a", "paint a", "step b", "paint b"]


def test_a_step_still_waiting_is_replaced_in_its_place(qtbot: QtBot) -> None:
    ran: list[str] = []
    slices = PaintSlices(lambda exc: None)
    slices.post("chart", lambda: ran.append("chart 1"))
    slices.post("table", lambda: ran.append("table"))
    slices.post("chart", lambda: ran.append("chart 2"))  # a slow machine: not twice
    assert slices.pending() == 2
    qtbot.waitUntil(lambda: slices.pending() == 0, timeout=5000)
    assert ran == ["chart 2", "table"]


def test_a_failing_step_is_reported_and_the_next_still_runs(qtbot: QtBot) -> None:
    errors: list[BaseException] = []
    ran: list[str] = []
    slices = PaintSlices(errors.append)

    def broken() -> None:
        raise ValueError("a chart could not draw")

    slices.post("broken", broken)
    slices.post("next", lambda: ran.append("next"))
    qtbot.waitUntil(lambda: ran == ["next"], timeout=5000)
    assert [str(e) for e in errors] == ["a chart could not draw"]


def test_the_poll_tick_paints_its_frame_before_the_charts_draw(
    qtbot: QtBot, window: MainWindow, monkeypatch: object
) -> None:
    """The window's own tick: the frame is painted in an event of its own, and the
    stage chart and the stats table draw in later ones (they used to join the
    frame's paint: one event of 5-7 ms)."""
    assert window.poll_loop is not None
    window.poll_loop.stop()
    window.latency.build_plots()
    window.chart_interval_ns = 0
    window.stats_interval_ns = 0
    qtbot.waitExposed(window)
    for _ in range(3):  # the plots' first paints
        QApplication.processEvents()
    assert window.latency.chart.plot is not None
    log: list[str] = []
    _paints = Paints(
        log,
        live=window.live_view,
        chart=window.latency.chart.plot.viewport(),
        table=window.latency.table.viewport(),
    )
    real_redraw = window.latency.chart.redraw

    def redraw() -> None:
        log.append("chart draws")
        real_redraw()

    window.latency.chart.redraw = redraw  # type: ignore[method-assign]
    second = builders.update(index=50, n_samples=20)
    second = replace(second, stats=builders.stats(builders.samples(31, 20, e2e=60.0)))
    updates = [builders.update(index=30, n_samples=10), second]
    window.session.poll = lambda: updates[0]  # type: ignore[method-assign]
    window._tick(now_ns() + 10**9)  # the first: a new budget redraws the chart at once
    qtbot.waitUntil(lambda: window.slices.pending() == 0, timeout=5000)
    for _ in range(3):
        QApplication.processEvents()
    log.clear()
    updates.pop(0)
    window._tick(now_ns() + 10**9)
    qtbot.waitUntil(lambda: "paint chart" in log and "paint table" in log, timeout=5000)
    drawn = log.index("chart draws")
    assert "paint live" in log[:drawn] and "paint chart" not in log[:drawn]
    assert "paint chart" in log[drawn:] and "paint live" not in log[drawn:]
    assert window.live_view.frame_index == 50 and len(window.latency.chart.ring) == 30
    assert window.latency.table.cell_text("e2e", "p50") != "—"
