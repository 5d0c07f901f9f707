"""Telemetry values over time: one line per (target, channel), newest window only."""

from __future__ import annotations

from collections import deque

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QWidget

from edgeconsole.ui.theme import COLOURS

#: Distinct from the ok/fail/warn verdict colours, like the stage colours.
PALETTE = ("#4cc3ff", "#c792ea", "#21b3a4", "#f78c6c", "#d96bb0", "#c7a25a", "#82aaff")


class TelemetryPlot(pg.PlotWidget):  # type: ignore[misc]  # pyqtgraph ships no types
    def __init__(self, points: int = 3000, parent: QWidget | None = None) -> None:
        super().__init__(parent=parent, background=COLOURS.panel)
        self.setMenuEnabled(False)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        item = self.getPlotItem()
        item.setTitle("Telemetry", color=COLOURS.text, size="11pt")
        item.showGrid(x=False, y=True, alpha=0.18)
        item.setLabel("bottom", "s", color=COLOURS.text_dim)
        font = QFont()
        font.setPointSize(9)
        for axis in ("left", "bottom"):
            ax = item.getAxis(axis)
            ax.setPen(pg.mkPen(COLOURS.border))
            ax.setTextPen(pg.mkPen(COLOURS.text_dim))
            ax.setStyle(tickFont=font)
        self.legend = item.addLegend(offset=(-8, 4), labelTextColor=COLOURS.text)
        self.legend.setBrush(pg.mkBrush(0, 0, 0, 150))
        self.points = points
        self.origin_ns = 0
        self._series: dict[str, tuple[deque[float], deque[float], pg.PlotDataItem]] = {}
        self._dirty = False

    def add(self, t_ns: int, target: str, values: dict[str, float]) -> None:
        x = (t_ns - self.origin_ns) / 1e9
        for key, v in values.items():
            name = f"{key} ({target})" if target else key
            s = self._series.get(name)
            if s is None:
                colour = PALETTE[len(self._series) % len(PALETTE)]
                curve = self.getPlotItem().plot(name=name, pen=pg.mkPen(colour, width=2))
                s = (deque(maxlen=self.points), deque(maxlen=self.points), curve)
                self._series[name] = s
            s[0].append(x)
            s[1].append(v)
        self._dirty = True

    @property
    def names(self) -> list[str]:
        return list(self._series)

    def values(self, name: str) -> list[float]:
        return list(self._series[name][1])

    def clear_data(self) -> None:
        for xs, ys, curve in self._series.values():
            xs.clear()
            ys.clear()
            curve.setData([], [])
        self._dirty = False

    def redraw(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        for xs, ys, curve in self._series.values():
            curve.setData(np.fromiter(xs, float, len(xs)), np.fromiter(ys, float, len(ys)))
