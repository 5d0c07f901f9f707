"""Decision latency per part: the line's own figure, against the reject gate's budget.

A per-part line (DESIGN section 10) is judged by how long each *part* waited for
its decision (trigger to decision), not by frame stages. The latency panel shows
this box first while a line runs: a readout (p50 / p99 of the newest parts against
the budget, with late and missed counts) and one point per part, late ones red.

The decisions are kept in plain state (:class:`DecisionLog`) from the first poll;
the plot is built with the panel's other plots (after the first paint) and draws
that state.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from edgeconsole.core.parts import PartDecision
from edgeconsole.ui.layout_fence import LayoutFence
from edgeconsole.ui.plot_style import budget_line, nice_ceiling, show_budget, style_plot
from edgeconsole.ui.theme import COLOURS

if TYPE_CHECKING:
    import pyqtgraph as pg

#: Parts the chart and the rolling percentiles cover.
WINDOW_PARTS = 300
#: The x axis moves on by this many parts at a time.
PART_STEP = 20
WAITING_TEXT = "Decision per part: waiting for the first part to cross the trigger…"


def _fmt(ms: float) -> str:
    return f"{ms:.0f}" if ms >= 100 else f"{ms:.1f}" if ms >= 10 else f"{ms:.2f}"


class DecisionLog:
    """The newest decided parts (ids, decision ms, late) and run totals."""

    def __init__(self, capacity: int = WINDOW_PARTS) -> None:
        self.ids: deque[int] = deque(maxlen=capacity)
        self.ms: deque[float] = deque(maxlen=capacity)
        self.late: deque[bool] = deque(maxlen=capacity)
        self.decided = 0
        self.late_total = 0
        self.missed = 0
        self.budget_ms: float | None = None

    def clear(self) -> None:
        self.ids.clear()
        self.ms.clear()
        self.late.clear()
        self.decided = self.late_total = self.missed = 0

    def add(self, decisions: Sequence[PartDecision]) -> None:
        for d in decisions:
            if d.missed:
                self.missed += 1
                continue
            self.decided += 1
            self.late_total += int(d.late)
            self.ids.append(d.part_id)
            self.ms.append(d.decision_ms)
            self.late.append(d.late)

    def percentiles(self) -> tuple[float, float] | None:
        """(p50, p99) of the window; the tail is a real part's time, never interpolated."""
        if not self.ms:
            return None
        import numpy as np  # not before the window's first paint (issue 15)

        arr = np.fromiter(self.ms, dtype=np.float64, count=len(self.ms))
        p50, p99 = np.percentile(arr, [50, 99], method="higher")
        return float(p50), float(p99)

    def readout_html(self) -> str:
        """One line a technician reads from across the bench."""
        pct = self.percentiles()
        if pct is None:
            if self.missed:
                return (
                    f"Decision per part: no part decided yet · "
                    f"<span style='color:{COLOURS.warn}'><b>{self.missed}</b> missed</span>"
                )
            return WAITING_TEXT
        p50, p99 = pct
        budget = self.budget_ms
        over = budget is not None and p99 > budget
        colour = COLOURS.fail if over else COLOURS.ok
        head = (
            f"Decision per part <b>p50 {_fmt(p50)} ms</b> · "
            f"<span style='color:{colour}'><b>p99 {_fmt(p99)} ms</b></span>"
        )
        if budget is not None:
            head += (
                f" <span style='color:{colour}'>{'over' if over else 'within'} the "
                f"{budget:g} ms budget</span>"
            )
        n = len(self.ms)
        count = f"{self.decided} parts"
        if n < self.decided:
            count += f" (percentiles: newest {n})"
        parts = [head, count]
        late_colour = COLOURS.fail if self.late_total else COLOURS.text_dim
        parts.append(f"<span style='color:{late_colour}'><b>{self.late_total}</b> late</span>")
        miss_colour = COLOURS.warn if self.missed else COLOURS.text_dim
        parts.append(f"<span style='color:{miss_colour}'><b>{self.missed}</b> missed</span>")
        return " · ".join(parts)


class DecisionChart:
    """One point per decided part (x: part id), late points red, the budget dashed."""

    def __init__(self, log: DecisionLog) -> None:
        self.log = log
        self.plot: pg.PlotWidget | None = None
        self.in_time: pg.ScatterPlotItem | None = None
        self.over: pg.ScatterPlotItem | None = None
        self.budget_line: pg.InfiniteLine | None = None
        self.redraws = 0
        self._ranges: tuple[float, float, float] | None = None

    def build(self) -> pg.PlotWidget:
        import pyqtgraph as pg

        plot = pg.PlotWidget(background=COLOURS.panel)
        plot.setObjectName("decisionChart")
        item = style_plot(plot, "Decision latency per part (ms)")
        item.setLabel("bottom", "part", color=COLOURS.text_dim)
        ok, fail = QColor(COLOURS.ok), QColor(COLOURS.fail)
        self.in_time = pg.ScatterPlotItem(size=7, pen=pg.mkPen(None), brush=pg.mkBrush(ok))
        self.over = pg.ScatterPlotItem(
            size=9, symbol="t", pen=pg.mkPen(None), brush=pg.mkBrush(fail)
        )
        item.addItem(self.in_time)
        item.addItem(self.over)
        self.budget_line = budget_line(0)
        item.addItem(self.budget_line, ignoreBounds=True)
        self.plot = plot
        show_budget(self.budget_line, self.log.budget_ms)
        self._draw()
        return plot

    def set_budget(self, ms: float | None) -> None:
        self.log.budget_ms = ms
        if self.budget_line is not None:
            show_budget(self.budget_line, ms)

    def redraw(self) -> None:
        self.redraws += 1
        self._draw()

    def _draw(self) -> None:
        if self.plot is None or self.in_time is None or self.over is None:
            return
        log = self.log
        if not log.ms:
            self.in_time.setData([], [])
            self.over.setData([], [])
            return
        import numpy as np

        x = np.fromiter(log.ids, dtype=np.float64, count=len(log.ids))
        y = np.fromiter(log.ms, dtype=np.float64, count=len(log.ms))
        late = np.fromiter(log.late, dtype=bool, count=len(log.late))
        self.in_time.setData(x[~late], y[~late])
        self.over.setData(x[late], y[late])
        budget = log.budget_ms or 0.0
        # The ranges move in steps (PART_STEP parts, nice tops), not with every part: a
        # new range relays and repaints both axes.
        lo = np.floor(x.min() / PART_STEP) * PART_STEP - 0.5
        hi = np.ceil((x.max() + 1) / PART_STEP) * PART_STEP + 0.5
        top = nice_ceiling(float(max(y.max(), budget * 1.25)) * 1.12)
        ranges = (float(lo), float(hi), top)
        if ranges != self._ranges:
            self._ranges = ranges
            self.plot.getPlotItem().setRange(
                xRange=ranges[:2], yRange=(0.0, ranges[2]), padding=0, update=False
            )


class DecisionBox(QWidget):
    """The readout over the chart; shown by the latency panel while a line runs."""

    def __init__(self, slot: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("decisionBox")
        self.setAccessibleName("Decision latency per part")
        self.log = DecisionLog()
        self.chart = DecisionChart(self.log)
        self.readout = QLabel(WAITING_TEXT)
        self.readout.setObjectName("decisionReadout")
        self.readout.setTextFormat(Qt.TextFormat.RichText)
        self.readout.setWordWrap(True)
        self.readout.setStyleSheet("font-size: 11pt;")
        self.readout.setToolTip(
            "How long each part waited for its verdict: from the trigger (the frame on "
            "which it crossed the line, or the photo-eye's edge) to the decision. p50/p99 "
            f"over the newest {WINDOW_PARTS} parts; late = over the budget (the reject "
            "gate would have missed it); missed = crossed but never judged."
        )
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        # Rewritten with every decided part: relayouts stay in the fence.
        layout.addWidget(LayoutFence(self.readout))
        layout.addWidget(slot, 1)
        slot.setMinimumHeight(140)
        self._dirty = False

    @property
    def dirty(self) -> bool:
        return self._dirty

    def build(self) -> QWidget:
        """The chart's plot (the panel's deferred build); it draws every decision so far."""
        plot: QWidget = self.chart.build()
        self._dirty = False
        return plot

    def add(self, decisions: Sequence[PartDecision]) -> None:
        if decisions:
            self.log.add(decisions)
            self._dirty = True
            self.readout.setText(self.log.readout_html())

    def set_budget(self, ms: float | None) -> None:
        self.chart.set_budget(ms)
        self.readout.setText(self.log.readout_html())

    def reset(self) -> None:
        self.log.clear()
        self.readout.setText(WAITING_TEXT)
        self.chart.redraw()
        self._dirty = False

    def redraw(self) -> None:
        if self._dirty:
            self.chart.redraw()
            self._dirty = False
