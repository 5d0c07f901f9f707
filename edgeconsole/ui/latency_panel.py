"""The latency panel: where the milliseconds go, against the budget.

Three views of what ``poll()`` returns, side by side under the live view or
stacked in a side dock: (a) stacked stage times per frame and (c) the end-to-end
histogram (:mod:`edgeconsole.ui.latency_charts`), (b) rolling percentiles per
stage (:mod:`edgeconsole.ui.latency_table`); while a per-part line runs, decision
latency per part leads (:mod:`edgeconsole.ui.decision_chart`).

The charts are pyqtgraph plots built after the window's first paint
(:mod:`edgeconsole.ui.deferred_plots`): until then their places show a
placeholder, and samples, budget and stats accumulate in plain state that the
build then draws. pyqtgraph is imported by that build only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSplitter, QVBoxLayout, QWidget

from edgeconsole.core.frames import OPTIONAL_STAGES, LatencySample
from edgeconsole.core.parts import PartDecision
from edgeconsole.session.api import LatencySnapshot
from edgeconsole.ui.decision_chart import DecisionBox
from edgeconsole.ui.deferred_plots import DeferredPlots
from edgeconsole.ui.latency_charts import (
    ROWS,
    STACK,
    HistogramChart,
    SampleRing,
    StageChart,
    stage_colour,
)
from edgeconsole.ui.latency_table import PercentileTable, camera_text, fmt_ms
from edgeconsole.ui.layout_fence import LayoutFence
from edgeconsole.ui.theme import COLOURS, STAGE_COLOURS

__all__ = ["ROWS", "LatencyPanel", "SampleRing", "camera_text", "fmt_ms"]


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
        # Its text changes 4 times a second: relayouts stay in the fence.
        stats_layout.addWidget(LayoutFence(self.summary))
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
        self._applied: tuple[LatencySnapshot, bool] | None = None
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
        if not on:
            self.histogram.draw_held()

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

    def redraw_steps(self) -> list[tuple[str, Callable[[], None]]]:
        """``redraw`` in steps, one per chart that has something new (the window runs
        each in an event of its own: ui/paint_slices.py)."""
        steps: list[tuple[str, Callable[[], None]]] = []
        if self._dirty:
            steps.append(("stage chart", self._redraw_stages))
        if self.decisions.dirty:
            steps.append(("decision chart", self.decisions.redraw))
        return steps

    def _redraw_stages(self) -> None:
        self._dirty = False  # first: samples that come while it draws are drawn next time
        self.chart.redraw()

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
        for _key, step in self.stats_steps(stats):
            step()

    def stats_steps(self, stats: LatencySnapshot) -> list[tuple[str, Callable[[], None]]]:
        """What new stats change, as steps: the table, the histogram, the summary line
        (none for the same stats again: stopped or idle, poll() sends them every tick)."""
        key = (stats, self.parts_mode)
        if key == self._applied:
            return []  # nothing to repaint
        self._applied = key
        if self.parts_mode and stats.budget_ms is not None:
            # A line's budget is each part's decision (the box above), not a frame's
            # trip to the screen: frames are not counted or coloured against it.
            stats = replace(stats, budget_ms=None)
            note = "frames: capture to screen; the budget applies to each part's decision"
        else:
            note = ""
        text = self._summary_text(stats)
        summary = f"{text} · {note}" if note else text
        return [
            ("stats table", lambda: self.table.apply(stats)),
            (
                "histogram",
                lambda: self.histogram.apply(stats, draw=not self.histogram_slot.isHidden()),
            ),
            ("summary", lambda: self._set_summary(summary)),
        ]

    def _set_summary(self, text: str) -> None:
        if text != self.summary.text():
            self.summary.setText(text)

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
