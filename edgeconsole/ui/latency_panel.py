"""The latency panel: where the milliseconds go, against the budget.

Three views of what ``poll()`` returns:

(a) stacked stage times per frame for the last N frames, end-to-end as a line
    on top and the budget as a dashed horizontal line;
(b) rolling p50/p90/p99/max per stage and end-to-end, run-wide p99 beside
    them, first inference on its own line (it would poison every tail);
(c) a histogram of end-to-end latency, bins past the budget in red.

Everything is created once; updates only call ``setData``/``setText`` so a
redraw costs the same whether the run is one minute or one day old.

The two charts are pyqtgraph plots built after the window's first paint
(:mod:`edgeconsole.ui.deferred_plots`): until then their places show a
placeholder, and samples, budget and stats accumulate in plain state
(``StageChart.ring``, ``HistogramChart``) that the build then draws. pyqtgraph
is imported by that build only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QSizePolicy,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from edgeconsole.core.frames import OPTIONAL_STAGES, STAGES, LatencySample
from edgeconsole.core.parts import PartDecision
from edgeconsole.session.api import LatencySnapshot, SeriesStats
from edgeconsole.ui.decision_chart import DecisionBox
from edgeconsole.ui.deferred_plots import DeferredPlots
from edgeconsole.ui.plot_style import budget_line as _budget_line
from edgeconsole.ui.plot_style import show_budget as _show_budget
from edgeconsole.ui.plot_style import style_plot as _style
from edgeconsole.ui.theme import COLOURS, STAGE_COLOURS

if TYPE_CHECKING:
    import pyqtgraph as pg

#: Bottom to top in the stacked chart; the rows of the sample ring. Optional stages
#: (a gateway's network hop, a worker process's hand-off) stay zero, and out of the
#: legend and table, until a sample carries them.
STACK: tuple[str, ...] = (*STAGES, *OPTIONAL_STAGES, "unaccounted")
ROWS: tuple[str, ...] = (*STACK, "e2e")
TABLE_COLUMNS: tuple[str, ...] = ("p50", "p90", "p99", "max", "run p99")
#: Colours of optional stages the theme does not name.
_EXTRA_COLOURS = {"network": "#e8863a", "handoff": "#c678dd"}


def stage_colour(name: str) -> str:
    return STAGE_COLOURS.get(name) or _EXTRA_COLOURS.get(name, COLOURS.text_dim)


def fmt_ms(value: float | None) -> str:
    if value is None or not np.isfinite(value):
        return "—"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


class SampleRing:
    """The last ``capacity`` samples as rows of a preallocated float array."""

    def __init__(self, capacity: int = 300) -> None:
        self.capacity = capacity
        self._x = np.zeros(capacity, dtype=np.float64)
        self._y = np.zeros((len(ROWS), capacity), dtype=np.float64)
        self._head = 0  # next write position
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def clear(self) -> None:
        self._head = 0
        self._count = 0

    def extend(self, samples: Sequence[LatencySample]) -> None:
        if not samples:
            return
        # A batch larger than the ring only keeps its newest part.
        batch = samples[-self.capacity :]
        k = len(batch)
        xs = np.fromiter((s.frame_index for s in batch), dtype=np.float64, count=k)
        ys = np.empty((len(ROWS), k), dtype=np.float64)
        for j, s in enumerate(batch):
            for i, name in enumerate(STACK[:-1]):
                ys[i, j] = s.stages.get(name, 0.0)
            ys[len(STACK) - 1, j] = s.unaccounted_ms
            ys[len(STACK), j] = s.e2e_ms
        idx = (self._head + np.arange(k)) % self.capacity
        self._x[idx] = xs
        self._y[:, idx] = ys
        self._head = (self._head + k) % self.capacity
        self._count = min(self.capacity, self._count + k)

    def ordered(self) -> tuple[np.ndarray, np.ndarray]:
        """(x, rows) oldest first."""
        if self._count < self.capacity:
            return self._x[: self._count].copy(), self._y[:, : self._count].copy()
        order = np.r_[self._head : self.capacity, 0 : self._head]
        return self._x[order], self._y[:, order]


class StageChart:
    """Stacked stage times per frame with end-to-end and the budget line.

    The samples (``ring``) and the budget are plain state, kept from the start;
    ``build`` makes the pyqtgraph plot (after the window's first paint) and draws
    that state, later ``redraw`` calls draw into it.
    """

    def __init__(self, capacity: int = 300) -> None:
        self.ring = SampleRing(capacity)
        self.plot: pg.PlotWidget | None = None
        self._fills: list[pg.PlotDataItem] = []
        self.e2e_curve: pg.PlotDataItem | None = None
        self.budget_line: pg.InfiniteLine | None = None
        self._budget: float | None = None
        self._ranges: tuple[float, float, float] | None = None
        #: ``redraw`` calls; before the build they draw nothing (the build draws the ring).
        self.redraws = 0

    def build(self) -> pg.PlotWidget:
        import pyqtgraph as pg

        plot = pg.PlotWidget(background=COLOURS.panel)
        item = _style(plot, "Stage times per frame (ms)")
        item.setClipToView(True)
        for i, name in enumerate(STACK):
            colour = QColor(stage_colour(name))
            fill = QColor(colour)
            fill.setAlpha(215)
            curve = pg.PlotDataItem(
                pen=pg.mkPen(colour, width=1), fillLevel=0.0, brush=QBrush(fill), name=name
            )
            # Lower stages are drawn over the higher (cumulative) ones.
            curve.setZValue(len(STACK) - i)
            item.addItem(curve)
            self._fills.append(curve)
        self.e2e_curve = pg.PlotDataItem(pen=pg.mkPen(STAGE_COLOURS["e2e"], width=2), name="e2e")
        self.e2e_curve.setZValue(40)
        item.addItem(self.e2e_curve)
        self.budget_line = _budget_line(0)
        item.addItem(self.budget_line, ignoreBounds=True)
        self.plot = plot
        _show_budget(self.budget_line, self._budget)
        self._draw()
        return plot

    def set_budget(self, ms: float | None) -> None:
        self._budget = ms
        if self.budget_line is not None:
            _show_budget(self.budget_line, ms)

    def clear_samples(self) -> None:
        self.ring.clear()
        self.redraw()

    def redraw(self) -> None:
        self.redraws += 1
        self._draw()

    def _draw(self) -> None:
        if self.plot is None or self.e2e_curve is None:
            return
        x, rows = self.ring.ordered()
        if x.size == 0:
            for c in self._fills:
                c.setData([], [])
            self.e2e_curve.setData([], [])
            return
        stacked = np.cumsum(rows[: len(STACK)], axis=0)
        for i, curve in enumerate(self._fills):
            curve.setData(x, stacked[i])
        self.e2e_curve.setData(x, rows[-1])
        top = float(max(stacked[-1].max(), rows[-1].max(), self._budget or 0.0))
        ranges = (float(x[0]), float(max(x[-1], x[0] + 1)), top * 1.12 if top > 0 else 1.0)
        if ranges != self._ranges:  # an unchanged range would still relayout the axes
            self._ranges = ranges
            self.plot.getPlotItem().setRange(
                xRange=ranges[:2], yRange=(0.0, ranges[2]), padding=0, update=False
            )


class PercentileTable(QTableWidget):
    """Rolling percentiles per stage and end-to-end; run-wide p99 beside them."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(len(ROWS), len(TABLE_COLUMNS), parent)
        self.setHorizontalHeaderLabels(list(TABLE_COLUMNS))
        self.setVerticalHeaderLabels(list(ROWS))
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setAlternatingRowColors(True)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.horizontalHeader().setSectionResizeMode(
            len(TABLE_COLUMNS) - 1, QHeaderView.ResizeMode.ResizeToContents
        )
        # Five numeric columns share a narrow box: tight header padding keeps
        # "run p99" whole.
        self.setStyleSheet("QHeaderView::section { padding: 3px 1px; }")
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.verticalHeader().setDefaultSectionSize(24)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setToolTip(
            "Rolling window percentiles in milliseconds; 'run p99' covers the "
            "whole run. First inference is excluded and shown below."
        )
        bold = QFont(self.font())
        bold.setBold(True)
        # Our own references: updates touch these, never look items up.
        self._cells: list[list[QTableWidgetItem]] = []
        for r, name in enumerate(ROWS):
            row = []
            for c in range(len(TABLE_COLUMNS)):
                cell = QTableWidgetItem("—")
                cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if name == "e2e":
                    cell.setFont(bold)
                self.setItem(r, c, cell)
                row.append(cell)
            self._cells.append(row)
        self._over = QColor(COLOURS.fail)
        self._normal = QColor(COLOURS.text)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.show_optional(())

    def show_optional(self, names: Sequence[str]) -> None:
        """Show the rows of these optional stages (others stay hidden)."""
        for name in OPTIONAL_STAGES:
            self.setRowHidden(ROWS.index(name), name not in names)
        visible = len(ROWS) - len(OPTIONAL_STAGES) + len([n for n in names if n in ROWS])
        self.setFixedHeight(self.horizontalHeader().sizeHint().height() + 24 * visible + 4)

    def cell_text(self, row: str, column: str) -> str:
        return self._cells[ROWS.index(row)][TABLE_COLUMNS.index(column)].text()

    def cell(self, row: str, column: str) -> QTableWidgetItem:
        return self._cells[ROWS.index(row)][TABLE_COLUMNS.index(column)]

    def apply(self, stats: LatencySnapshot) -> None:
        budget = stats.budget_ms
        for r, name in enumerate(ROWS):
            rolling = stats.rolling.get(name) or SeriesStats(0, None, None, None, None)
            run = stats.run.get(name) or SeriesStats(0, None, None, None, None)
            values = (rolling.p50, rolling.p90, rolling.p99, rolling.max, run.p99)
            for c, v in enumerate(values):
                cell = self._cells[r][c]
                text = fmt_ms(v)
                if cell.text() != text:
                    cell.setText(text)
                over = name == "e2e" and budget is not None and v is not None and v > budget
                cell.setForeground(self._over if over else self._normal)


class HistogramChart:
    """End-to-end latency histogram (rolling window) against the budget.

    Keeps the last stats and the budget; ``build`` makes the plot and shows them,
    later ``apply`` calls draw into it.
    """

    def __init__(self) -> None:
        self.plot: pg.PlotWidget | None = None
        self.under: pg.PlotDataItem | None = None
        self.over: pg.PlotDataItem | None = None
        self.budget_line: pg.InfiniteLine | None = None
        self.p99_line: pg.InfiniteLine | None = None
        self._budget: float | None = None
        self._stats: LatencySnapshot | None = None
        #: Counts of the last stats applied (whole frames).
        self.counts: list[int] = []

    def build(self) -> pg.PlotWidget:
        import pyqtgraph as pg

        plot = pg.PlotWidget(background=COLOURS.panel)
        item = _style(plot, "End-to-end histogram (ms)")
        ok, fail = QColor(COLOURS.ok), QColor(COLOURS.fail)
        ok.setAlpha(200)
        fail.setAlpha(220)
        self.under = pg.PlotDataItem(
            stepMode="center", fillLevel=0, pen=pg.mkPen(COLOURS.ok), brush=QBrush(ok)
        )
        self.over = pg.PlotDataItem(
            stepMode="center", fillLevel=0, pen=pg.mkPen(COLOURS.fail), brush=QBrush(fail)
        )
        item.addItem(self.under)
        item.addItem(self.over)
        self.budget_line = _budget_line(90)
        item.addItem(self.budget_line, ignoreBounds=True)
        self.p99_line = pg.InfiniteLine(
            angle=90,
            movable=False,
            pen=pg.mkPen(COLOURS.text, width=1, style=Qt.PenStyle.DotLine),
            label="p99 {value:.1f}",
            labelOpts={
                "color": COLOURS.text,
                "position": 0.55,
                "fill": pg.mkBrush(0, 0, 0, 170),
                "anchors": [(1, 0.5), (1, 0.5)],  # left of the line
            },
        )
        self.p99_line.setVisible(False)
        item.addItem(self.p99_line, ignoreBounds=True)
        self.plot = plot
        _show_budget(self.budget_line, self._budget)
        if self._stats is not None:
            self._draw(self._stats)
        return plot

    def set_budget(self, ms: float | None) -> None:
        self._budget = ms
        if self.budget_line is not None:
            _show_budget(self.budget_line, ms)

    def apply(self, stats: LatencySnapshot) -> None:
        self._stats = stats
        self.counts = [int(c) for c in stats.histogram_counts]
        self._draw(stats)

    def _draw(self, stats: LatencySnapshot) -> None:
        plot, under, over, p99_line = self.plot, self.under, self.over, self.p99_line
        if plot is None or under is None or over is None or p99_line is None:
            return
        edges = np.asarray(stats.histogram_edges, dtype=np.float64)
        counts = np.asarray(stats.histogram_counts, dtype=np.float64)
        if edges.size < 2 or counts.size != edges.size - 1:
            under.setData([], [])
            over.setData([], [])
            p99_line.setVisible(False)
            return
        centres = (edges[:-1] + edges[1:]) / 2.0
        budget = stats.budget_ms
        is_over = centres > budget if budget is not None else np.zeros(centres.shape, bool)
        under.setData(edges, np.where(is_over, 0.0, counts), stepMode="center")
        over.setData(edges, np.where(is_over, counts, 0.0), stepMode="center")
        p99 = stats.rolling.get("e2e")
        if p99 is not None and p99.p99 is not None:
            p99_line.setVisible(True)
            p99_line.setValue(p99.p99)
        item = plot.getPlotItem()
        hi = float(max(edges[-1], (budget or 0.0) * 1.05))
        item.setXRange(0.0, hi, padding=0.02)
        top = float(max(counts.max(), 1.0))
        item.setYRange(0.0, top * 1.1, padding=0)
        # Counts are whole frames: whole-number ticks only.
        step = max(1.0, float(np.ceil(top / 4.0)))
        item.getAxis("left").setTickSpacing(step, step)


_CLOCK_WORDS = {
    "latched": "camera clock (latched)",
    "estimated": "camera clock (estimated: a lower bound)",
    "host": "arrival (the camera gives no timestamp)",
}


def camera_text(camera: dict[str, Any]) -> str:
    """One paragraph: the camera, its link counters, where capture starts, triggers."""
    st = camera.get("stream", {})
    cam = camera.get("camera") or {}
    who = f"{cam.get('vendor', '')} {cam.get('model', '')} {cam.get('serial', '')}".strip()
    bad = COLOURS.fail
    warn = COLOURS.warn

    def count(n: int, what: str, colour: str) -> str:
        return f"<span style='color:{colour}'><b>{n}</b> {what}</span>" if n else f"0 {what}"

    parts = [
        f"<b>Camera</b> {who or camera.get('source', '')}",
        f"{st.get('completed', 0)} frames",
        count(st.get("incomplete", 0), "incomplete (not judged)", bad),
        count(st.get("missing_packets", 0), "packets missing", warn),
        f"{st.get('resent_packets', 0)} resent",
        count(st.get("dropped_buffers", 0), "buffers dropped", warn),
        count(st.get("missing_frames", 0), "frames lost on the link", bad),
    ]
    if camera.get("reconnects"):
        parts.append(count(camera["reconnects"], "reconnects", warn))
    clock = camera.get("clock", {}).get("method", "")
    parts.append(f"capture from {_CLOCK_WORDS.get(clock, clock)}")
    trig = camera.get("trigger", {})
    if trig.get("issued"):
        lat = trig.get("latency_ms") or {}
        parts.append(
            f"triggers {trig.get('answered', 0)}/{trig['issued']} answered, "
            + count(trig.get("missing", 0), "missing", bad)
            + (f", trigger→frame p99 {lat['p99']} ms" if lat else "")
        )
    if camera.get("state") == "reconnecting":
        parts.append(f"<span style='color:{warn}'><b>reconnecting…</b></span>")
    return " · ".join(parts)


class LatencyPanel(QWidget):
    """The three latency views in one dockable widget."""

    def __init__(self, capacity: int = 300, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Latency panel")
        self.chart = StageChart(capacity)
        self.histogram = HistogramChart()
        #: The two plots, built after the window's first paint (placeholders until then).
        self.deferred = DeferredPlots(self._build_plots, self)
        chart_slot = self.deferred.slot()
        histogram_slot = self.deferred.slot()
        # A per-part line: decision latency per part, first, while a line runs.
        self.decisions = DecisionBox(self.deferred.slot())
        self.decisions.setVisible(False)
        self.histogram_slot = histogram_slot
        # The legend sits outside the plot so it never covers the newest frames.
        self.legend = QLabel(self._legend_html())
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setWordWrap(True)
        self.legend.setStyleSheet("font-size: 9pt;")
        self.table = PercentileTable()
        self.summary = QLabel("No samples yet.")
        self.summary.setObjectName("latencySummary")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        chart_box = QWidget()
        chart_layout = QVBoxLayout(chart_box)
        chart_layout.setContentsMargins(0, 0, 0, 0)
        chart_layout.setSpacing(2)
        chart_layout.addWidget(self.legend)
        chart_layout.addWidget(chart_slot, 1)
        stats_box = QWidget()
        stats_layout = QVBoxLayout(stats_box)
        stats_layout.setContentsMargins(0, 0, 0, 0)
        stats_layout.setSpacing(4)
        stats_layout.addWidget(self.table)
        stats_layout.addWidget(self.summary)
        # An industrial camera's own counters: what the link lost is part of latency's story.
        self.camera = QLabel("")
        self.camera.setObjectName("cameraLink")
        self.camera.setWordWrap(True)
        self.camera.setTextFormat(Qt.TextFormat.RichText)
        self.camera.setVisible(False)
        stats_layout.addWidget(self.camera)
        stats_layout.addStretch(1)
        self.stats_box = stats_box
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(self.decisions)
        self.splitter.addWidget(chart_box)
        self.splitter.addWidget(stats_box)
        self.splitter.addWidget(histogram_slot)
        self.splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.splitter)
        chart_slot.setMinimumHeight(160)
        histogram_slot.setMinimumHeight(120)
        self.set_orientation(Qt.Orientation.Vertical)
        self._budget: float | None = None
        self._dirty = False
        #: Optional stages seen since the last reset (shown in the legend and table).
        self.optional: tuple[str, ...] = ()

    def _build_plots(self) -> tuple[QWidget, QWidget, QWidget]:
        plots = self.chart.build(), self.histogram.build(), self.decisions.build()
        self._dirty = False  # the build drew the whole ring (and every decision)
        return plots

    def build_plots(self) -> None:
        """Build the plots now; otherwise they come after the panel is first painted."""
        self.deferred.build()

    @property
    def plots_built(self) -> bool:
        return self.deferred.built

    def set_orientation(self, orientation: Qt.Orientation) -> None:
        """Side by side under the live view, stacked in a side dock."""
        self.splitter.setOrientation(orientation)
        # Splitter order: decisions (per-part lines), stage chart, stats, histogram.
        if orientation == Qt.Orientation.Horizontal:
            self.stats_box.setMinimumWidth(420)
            self.stats_box.setMaximumWidth(500)
            self.splitter.setStretchFactor(1, 3)
            self.splitter.setStretchFactor(3, 2)
        else:
            self.stats_box.setMinimumWidth(0)
            self.stats_box.setMaximumWidth(16777215)
            self.splitter.setStretchFactor(1, 3)
            self.splitter.setStretchFactor(3, 1)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(2, 0)

    def set_parts_mode(self, on: bool) -> None:
        """A per-part line runs: decision latency per part comes first, in place of the
        frame histogram (frame stages and their table stay)."""
        if on == self.decisions.isVisible() and on != self.histogram_slot.isVisible():
            return
        self.decisions.setVisible(on)
        self.histogram_slot.setVisible(not on)

    @property
    def parts_mode(self) -> bool:
        return not self.decisions.isHidden()

    def add_decisions(self, decisions: Sequence[PartDecision]) -> None:
        """Parts decided since the last poll (cheap: the chart draws on ``redraw``)."""
        self.decisions.add(decisions)

    @property
    def orientation(self) -> Qt.Orientation:
        return self.splitter.orientation()

    # Cheap: only copies numbers into the ring; ``redraw`` draws.
    def add_samples(self, samples: Sequence[LatencySample]) -> None:
        if samples:
            self.chart.ring.extend(samples)
            self._dirty = True
            missing = [n for n in OPTIONAL_STAGES if n not in self.optional]
            if missing and any(n in samples[-1].stages for n in missing):
                self._set_optional(
                    tuple(
                        n for n in OPTIONAL_STAGES if n in self.optional or n in samples[-1].stages
                    )
                )

    def _set_optional(self, names: tuple[str, ...]) -> None:
        self.optional = names
        self.legend.setText(self._legend_html(names))
        self.table.show_optional(names)

    @property
    def dirty(self) -> bool:
        return self._dirty or self.decisions.dirty

    def redraw(self) -> None:
        self.chart.redraw()
        self.decisions.redraw()
        self._dirty = False

    def set_budget(self, ms: float | None) -> None:
        self._budget = ms
        self.chart.set_budget(ms)
        self.histogram.set_budget(ms)
        self.decisions.set_budget(ms)

    def reset(self) -> None:
        self.chart.clear_samples()
        self.decisions.reset()
        self.summary.setText("No samples yet.")
        if self.optional:
            self._set_optional(())

    def apply_camera(self, camera: dict[str, Any] | None) -> None:
        if not camera:
            self.camera.setVisible(False)
            return
        text = camera_text(camera)
        if text != self.camera.text():
            self.camera.setText(text)
        self.camera.setVisible(True)

    def apply_stats(self, stats: LatencySnapshot) -> None:
        if self.parts_mode and stats.budget_ms is not None:
            # A line's budget is each part's decision (the box above), not a frame's
            # trip to the screen: frames are not counted or coloured against it.
            stats = replace(stats, budget_ms=None)
            note = "frames: capture to screen; the budget applies to each part's decision"
        else:
            note = ""
        self.table.apply(stats)
        self.histogram.apply(stats)
        text = self._summary_text(stats)
        self.summary.setText(f"{text} · {note}" if note else text)

    @staticmethod
    def _legend_html(optional: Sequence[str] = ()) -> str:
        swatches = []
        for name in STACK:
            if name in OPTIONAL_STAGES and name not in optional:
                continue
            swatches.append(f"<span style='color:{stage_colour(name)}'>■</span> {name}")
        swatches.append(f"<span style='color:{STAGE_COLOURS['e2e']}'>━</span> e2e")
        return "&nbsp; ".join(swatches)

    @staticmethod
    def _summary_text(stats: LatencySnapshot) -> str:
        parts = []
        if stats.first_inference_ms is not None:
            first = f"First inference <b>{fmt_ms(stats.first_inference_ms)} ms</b>"
            if stats.first_e2e_ms is not None:
                first += f" (end-to-end {fmt_ms(stats.first_e2e_ms)} ms)"
            parts.append(first)
        else:
            parts.append("First inference —")
        parts.append(f"{stats.samples} frames")
        if stats.budget_ms is not None and stats.samples:
            share = 100.0 * stats.over_budget / stats.samples
            colour = COLOURS.fail if stats.over_budget else COLOURS.ok
            parts.append(
                f"<span style='color:{colour}'><b>{stats.over_budget}</b> over "
                f"{fmt_ms(stats.budget_ms)} ms budget ({share:.1f}%)</span>"
            )
        return " · ".join(parts)
