"""The latency panel's two charts and the sample ring behind the stage chart.

(a) stacked stage times per frame for the last N frames, end-to-end as a line on
    top and the budget as a dashed horizontal line (:class:`StageChart`);
(c) a histogram of end-to-end latency, bins past the budget in red
    (:class:`HistogramChart`).

Both keep their data in plain state from the start and build their pyqtgraph plot
after the window's first paint (:mod:`edgeconsole.ui.deferred_plots`); pyqtgraph
is imported by ``build`` only. Everything is created once; updates only replace
data, and a redraw costs the same whether the run is one minute or one day old.
What a paint costs is kept small on purpose (issue 15): opaque bands without
outlines (:mod:`edgeconsole.ui.stage_bands`), axes cached as pixmaps
(:func:`edgeconsole.ui.plot_style.style_plot`), series reduced to the plot's
width, and nothing set again that did not change.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt

from edgeconsole.core.frames import OPTIONAL_STAGES, STAGES, LatencySample
from edgeconsole.session.api import LatencySnapshot
from edgeconsole.ui.plot_style import budget_line as _budget_line
from edgeconsole.ui.plot_style import cached, nice_ceiling, opaque
from edgeconsole.ui.plot_style import show_budget as _show_budget
from edgeconsole.ui.plot_style import style_plot as _style
from edgeconsole.ui.theme import COLOURS, STAGE_COLOURS

if TYPE_CHECKING:
    import numpy as np
    import pyqtgraph as pg

    from edgeconsole.ui.stage_bands import StageBands

#: Bottom to top in the stacked chart; the rows of the sample ring. Optional stages
#: (a gateway's network hop, a worker process's hand-off) stay zero, and out of the
#: legend and table, until a sample carries them.
STACK: tuple[str, ...] = (*STAGES, *OPTIONAL_STAGES, "unaccounted")
ROWS: tuple[str, ...] = (*STACK, "e2e")
#: The end-to-end line keeps every sample up to this many (a plot not laid out yet
#: has no width); past it one point per pixel column, the column's peak.
MIN_COLUMNS = 400
#: Colours of optional stages the theme does not name.
_EXTRA_COLOURS = {"network": "#e8863a", "handoff": "#c678dd"}


def stage_colour(name: str) -> str:
    return STAGE_COLOURS.get(name) or _EXTRA_COLOURS.get(name, COLOURS.text_dim)


def fmt_ms(value: float | None) -> str:
    if value is None or not math.isfinite(value):
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
        # Made with the first samples: numpy is not imported before the window's
        # first paint (issue 15).
        self._x: np.ndarray | None = None
        self._y: np.ndarray | None = None
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
        import numpy as np

        if self._x is None or self._y is None:
            self._x = np.zeros(self.capacity, dtype=np.float64)
            self._y = np.zeros((len(ROWS), self.capacity), dtype=np.float64)
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
        import numpy as np

        if self._x is None or self._y is None:
            return np.zeros(0), np.zeros((len(ROWS), 0))
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
        self.bands: StageBands | None = None
        self.e2e_curve: pg.PlotCurveItem | None = None
        self.budget_line: pg.InfiniteLine | None = None
        self._budget: float | None = None
        self._ranges: tuple[float, float, float] | None = None
        self._newest = 0.0  # frame index drawn at x = 0
        #: ``redraw`` calls; before the build they draw nothing (the build draws the ring).
        self.redraws = 0

    def build(self) -> pg.PlotWidget:
        import pyqtgraph as pg

        from edgeconsole.ui.stage_bands import StageBands

        plot = pg.PlotWidget(background=COLOURS.panel)
        plot.setObjectName("stageChart")
        item = _style(plot, "Stage times per frame (ms)")
        item.setLabel("bottom", "frames ago", color=COLOURS.text_dim)
        self.bands = StageBands([stage_colour(name) for name in STACK])
        item.addItem(self.bands)
        view = item.getViewBox()
        # The bands are an image at the plot's pixel size: a new size renders it again.
        view.sigResized.connect(lambda vb: self._resized())
        # A plain curve: PlotDataItem's extra machinery costs on every setData.
        self.e2e_curve = pg.PlotCurveItem(pen=pg.mkPen(STAGE_COLOURS["e2e"], width=2))
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

    def band(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(frame index, cumulative top) of stage band ``i`` (``STACK`` order) as drawn."""
        import numpy as np

        if self.bands is None:
            return np.zeros(0), np.zeros(0)
        x, top = self.bands.band(i)
        return x + self._newest, top

    def e2e(self) -> tuple[np.ndarray, np.ndarray]:
        """(frame index, end-to-end ms) as the line draws them."""
        import numpy as np

        if self.e2e_curve is None:
            return np.zeros(0), np.zeros(0)
        x, y = self.e2e_curve.getData()
        if x is None:
            return np.zeros(0), np.zeros(0)
        return np.asarray(x) + self._newest, np.asarray(y)

    def _resized(self) -> None:
        if self.plot is not None and self.bands is not None:
            view = self.plot.getPlotItem().getViewBox()
            self.bands.set_size(int(view.width()), int(view.height()))

    def _draw(self) -> None:
        if self.plot is None or self.e2e_curve is None or self.bands is None:
            return
        import numpy as np

        from edgeconsole.ui.stage_bands import peak_columns

        x, rows = self.ring.ordered()
        view = self.plot.getPlotItem().getViewBox()
        self.bands.set_size(int(view.width()), int(view.height()))
        # x counts frames back from the newest, so the x range stays put: a range that
        # moved on every redraw relaid and repainted both axes each time (8 ms).
        self._newest = float(x[-1]) if x.size else 0.0
        x = x - self._newest
        stacked = np.cumsum(rows[: len(STACK)], axis=0)
        top = max(float(stacked[-1].max()), float(rows[-1].max())) if x.size else 0.0
        # The top moves in steps, not with every new maximum.
        ranges = (0.5 - self.ring.capacity, 0.5, nice_ceiling(max(top, self._budget or 0.0) * 1.1))
        if ranges != self._ranges:
            self._ranges = ranges
            self.plot.getPlotItem().setRange(
                xRange=ranges[:2], yRange=(0.0, ranges[2]), padding=0, update=False
            )
        self.bands.set_data(x, stacked, ranges)
        # More points than pixel columns would only draw the same pixels again.
        ex, e2e = peak_columns(x, rows[-1:], max(MIN_COLUMNS, int(view.width())))
        self.e2e_curve.setData(ex, e2e[0])


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
        self._held = False
        self._ranges: tuple[float, float, float] | None = None
        #: Counts of the last stats applied (whole frames).
        self.counts: list[int] = []

    def build(self) -> pg.PlotWidget:
        import pyqtgraph as pg

        plot = pg.PlotWidget(background=COLOURS.panel)
        plot.setObjectName("histogramChart")
        item = _style(plot, "End-to-end histogram (ms)")
        # Opaque fills in the colour the translucent ones showed: nothing to blend.
        self.under = pg.PlotDataItem(
            stepMode="center",
            fillLevel=0,
            pen=pg.mkPen(COLOURS.ok),
            brush=pg.mkBrush(opaque(COLOURS.ok, 200)),
        )
        self.over = pg.PlotDataItem(
            stepMode="center",
            fillLevel=0,
            pen=pg.mkPen(COLOURS.fail),
            brush=pg.mkBrush(opaque(COLOURS.fail, 220)),
        )
        item.addItem(self.under)
        item.addItem(self.over)
        self.budget_line = _budget_line(90)
        item.addItem(self.budget_line, ignoreBounds=True)
        self.p99_line = cached(
            pg.InfiniteLine(
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

    def apply(self, stats: LatencySnapshot, *, draw: bool = True) -> None:
        """``draw=False``: keep them for ``draw_held`` (a hidden histogram: a line
        runs and the decision chart shows instead; pyqtgraph's setData is not free)."""
        if stats == self._stats and not (draw and self._held):
            return  # idle, the session sends the same stats every poll: no repaint
        self._stats = stats
        self.counts = [int(c) for c in stats.histogram_counts]
        self._held = not draw
        if draw:
            self._draw(stats)

    def draw_held(self) -> None:
        if self._held and self._stats is not None:
            self._held = False
            self._draw(self._stats)

    def _draw(self, stats: LatencySnapshot) -> None:
        plot, under, over, p99_line = self.plot, self.under, self.over, self.p99_line
        if plot is None or under is None or over is None or p99_line is None:
            return
        import numpy as np

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
        # The ranges move in nice steps, not with every new maximum: edges and counts
        # change with nearly every stats update (4 Hz), and a new range draws both axes
        # again (2-5 ms of the window's thread, issue 15).
        hi = nice_ceiling(float(max(edges[-1], (budget or 0.0) * 1.05)))
        top = nice_ceiling(float(max(counts.max(), 1.0)))
        # Counts are whole frames: whole-number ticks only.
        step = max(1.0, float(np.ceil(top / 4.0)))
        ranges = (hi, top, step)
        if ranges != self._ranges:  # setting them again would relayout and repaint the axes
            self._ranges = ranges
            item = plot.getPlotItem()
            item.setXRange(0.0, hi, padding=0.02)
            item.setYRange(0.0, top * 1.1, padding=0)
            item.getAxis("left").setTickSpacing(step, step)
