"""The latency charts' shared look: dark static plots and the dashed budget line.

Kept cheap to paint (issue 15): a plot repaints at up to 10 Hz on the window's
thread, and pyqtgraph replays each axis (ticks, labels, and the grid across the
whole plot) from a QPicture on every paint, about 6 ms of a 9 ms stage chart
paint. Axes and the budget and p99 lines are cached as pixmaps instead
(:func:`cached`): they are drawn again only when they change (a new range, a new
value), and otherwise cost one pixmap copy.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, TypeVar

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QGraphicsItem

from edgeconsole.ui.theme import COLOURS

if TYPE_CHECKING:
    import pyqtgraph as pg

Item = TypeVar("Item", bound=QGraphicsItem)


def cached(item: Item) -> Item:
    """Paint ``item`` into a pixmap once; later paints copy it until the item changes."""
    item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
    return item


def opaque(colour: str, alpha: int, over: str = COLOURS.panel) -> QColor:
    """The opaque colour ``colour`` at ``alpha`` shows over ``over``: the same look
    as a translucent fill, without blending every pixel on every paint."""
    top, bottom = QColor(colour), QColor(over)
    a = alpha / 255.0
    return QColor(
        round(top.red() * a + bottom.red() * (1 - a)),
        round(top.green() * a + bottom.green() * (1 - a)),
        round(top.blue() * a + bottom.blue() * (1 - a)),
    )


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
        cached(ax)
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
    return cached(line)


def show_budget(line: pg.InfiniteLine, ms: float | None) -> None:
    if ms is None:
        line.setVisible(False)
    else:
        # Visible first: a hidden InfiniteLine does not re-format its label.
        line.setVisible(True)
        line.setValue(ms)


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 1.5, 2, 3, 4, 5, 6, 8 times a power of ten not below ``value``."""
    if not math.isfinite(value) or value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0):
        if step * power >= value * (1 - 1e-12):
            return float(step * power)
    return float(10.0 * power)
