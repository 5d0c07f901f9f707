"""When the latency panel redraws: its stage chart at most every ``chart_interval_ns``
(10 Hz looks live), its stats table and histogram at most every ``stats_interval_ns``
(stats change slowly to the eye), only within the tick's deadline, and never while
the panel is off screen (a closed dock or one tabbed behind another: its samples wait,
dirty, for the first tick it is seen again). pyqtgraph repaints cost milliseconds of
Python on the window's thread; a fast model would otherwise redraw at the tick rate."""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgeconsole.core.clock import now_ns

if TYPE_CHECKING:  # the window paints before the session's names are loaded
    from edgeconsole.session.api import LatencySnapshot
    from edgeconsole.ui.latency_panel import LatencyPanel
    from edgeconsole.ui.paint_slices import PaintSlices

STATS_INTERVAL_NS = 250_000_000
CHART_INTERVAL_NS = 100_000_000
_LONG_AGO = -(1 << 62)


class LatencyPacer:
    def __init__(self, panel: LatencyPanel) -> None:
        self.panel = panel
        self.chart_interval_ns = CHART_INTERVAL_NS
        self.stats_interval_ns = STATS_INTERVAL_NS
        self._last_chart_ns = _LONG_AGO
        self._last_stats_ns = _LONG_AGO
        self._stats: LatencySnapshot | None = None
        self._stats_new = False

    def reset(self) -> None:
        """A new run: the previous run's stats are not shown again."""
        self._stats = None
        self._stats_new = False

    def take_stats(self, stats: LatencySnapshot) -> None:
        self._stats = stats
        self._stats_new = True

    def on_screen(self) -> bool:
        return self.panel.isVisible() and not self.panel.visibleRegion().isEmpty()

    def chart_due(self, t: int) -> bool:
        return (
            self.panel.dirty
            and t - self._last_chart_ns >= self.chart_interval_ns
            and self.on_screen()
        )

    def stats_due(self, t: int) -> bool:
        return (
            self._stats is not None
            and self._stats_new
            and t - self._last_stats_ns >= self.stats_interval_ns
            and self.on_screen()
        )

    def draw_chart(self, deadline_ns: int) -> None:
        t = now_ns()
        if t < deadline_ns and self.chart_due(t):
            self._last_chart_ns = t
            self.panel.redraw()

    def draw_stats(self, deadline_ns: int) -> None:
        t = now_ns()
        if t < deadline_ns and self.stats_due(t) and self._stats is not None:
            self._last_stats_ns = t
            self._stats_new = False
            self.panel.apply_stats(self._stats)

    def post_chart(self, slices: PaintSlices) -> None:
        """The charts' redraws as slices of their own (one per chart: each is painted
        before the next draws)."""
        self._last_chart_ns = now_ns()
        for key, step in self.panel.redraw_steps():
            slices.post(key, step)

    def post_stats(self, slices: PaintSlices) -> None:
        """The newest stats as slices: the table, the histogram, the summary line."""
        if self._stats is None:
            return
        self._last_stats_ns = now_ns()
        self._stats_new = False
        for key, step in self.panel.stats_steps(self._stats):
            slices.post(key, step)
