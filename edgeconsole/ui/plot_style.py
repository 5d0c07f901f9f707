"""The latency charts' shared look: dark static plots and the dashed budget line."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont

from edgeconsole.ui.theme import COLOURS

if TYPE_CHECKING:
    import pyqtgraph as pg


def style_plot(plot: pg.PlotWidget, title: str) -> pg.PlotItem:
    """Static, dark, uncluttered: a technician reads these, nobody pans them."""
    import pyqtgraph as pg

    plot.setMenuEnabled(False)
    plot.setMouseEnabled(x=False, y=False)
    plot.hideButtons()
    item = plot.getPlotItem()
    item.setTitle(title, color=COLOURS.text, size="11pt")
    item.showGrid(x=False, y=True, alpha=0.18)
    font = QFont()
    font.setPointSize(9)
    for axis in ("left", "bottom"):
        ax = item.getAxis(axis)
        ax.setPen(pg.mkPen(COLOURS.border))
        ax.setTextPen(pg.mkPen(COLOURS.text_dim))
        ax.setStyle(tickFont=font)
    return item


def budget_line(angle: int) -> pg.InfiniteLine:
    import pyqtgraph as pg

    line = pg.InfiniteLine(
        angle=angle,
        movable=False,
        pen=pg.mkPen(COLOURS.warn, width=2, style=Qt.PenStyle.DashLine),
        label="budget {value:.0f} ms",
        labelOpts={
            "color": COLOURS.warn,
            "position": 0.95 if angle == 0 else 0.8,
            "fill": pg.mkBrush(0, 0, 0, 170),
            # Above-left of the line's right end; right of a vertical line.
            "anchors": [(1, 1), (1, 1)] if angle == 0 else [(0, 0.5), (0, 0.5)],
        },
    )
    line.setZValue(50)
    line.setVisible(False)
    return line


def show_budget(line: pg.InfiniteLine, ms: float | None) -> None:
    if ms is None:
        line.setVisible(False)
    else:
        # Visible first: a hidden InfiniteLine does not re-format its label.
        line.setVisible(True)
        line.setValue(ms)
