"""Stacked stage times as one image at the plot's own pixel size, copied on each paint.

The chart used one pyqtgraph fill curve per stage, each filled from zero up to
its cumulative top with a translucent brush and an outline: every pixel under
the top was filled and blended once per stage, about 9 ms per paint of a
736 x 306 chart, at up to 10 Hz on the window's thread (issue 15). Qt's own
polygon fill is no cheaper here (about 2 ms per 600-point band). Instead the
bands are rendered with numpy into an 8-bit image of the plot's size in pixels,
one colour index per pixel (each frame a column of opaque stage colours, so the
chart reads as stacked bars), when the data, the range or the size change; a
paint copies that image unscaled (well under a millisecond). A series longer
than the plot is wide keeps each pixel column's peak: a spike stays visible.

pyqtgraph is imported at the top: import this module only where the plots are
built (after the window's first paint).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QImage, QPainter

#: Images are at most this big in either direction (a 4K screen's worth).
MAX_SIDE = 4096


def peak_columns(x: np.ndarray, rows: np.ndarray, columns: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``columns`` points: each run of consecutive samples becomes its last x
    and, per row, its largest value (a spike stays visible however narrow the plot).
    Stacked rows stay ordered: the maxima of larger values are not smaller."""
    n = x.size
    if n <= columns or columns < 1:
        return x, rows
    edges = np.linspace(0, n, columns + 1).astype(np.int64)
    starts = edges[:-1][edges[1:] > edges[:-1]]
    ends = np.r_[starts[1:], n]
    return x[ends - 1], np.maximum.reduceat(rows, starts, axis=1)


def band_index_image(
    x: np.ndarray,
    stacked: np.ndarray,
    view: tuple[float, float, float],
    width: int,
    height: int,
) -> np.ndarray:
    """(height, width) uint8, row 0 at the top: 0 above the bands, ``i + 1`` inside band
    ``i``. ``view`` is (x0, x1, y1) of the plot (y from 0). Each sample is a bar
    centred on its x, reaching halfway to its neighbours; a pixel column several
    samples share shows their peaks."""
    out = np.zeros((height, width), dtype=np.uint8)
    x0, x1, y1 = view
    if x.size == 0 or width < 1 or height < 1 or x1 <= x0 or y1 <= 0:
        return out
    if x.size > 1 and np.any(np.diff(x) < 0):
        order = np.argsort(x, kind="stable")
        x, stacked = x[order], stacked[:, order]
    pos = (x - x0) / (x1 - x0) * width
    half = (pos[1] - pos[0]) / 2.0 if pos.size > 1 else float(width)
    lefts = np.r_[pos[0] - half, (pos[:-1] + pos[1:]) / 2.0]
    rights = np.r_[lefts[1:], pos[-1] + (pos[-1] - lefts[-1])]
    keep = (rights > 0) & (lefts < width)
    if not keep.any():
        return out
    col = np.clip(np.floor(lefts[keep]), 0, width - 1).astype(np.int64)
    tops = stacked[:, keep]
    last = int(min(width, max(np.ceil(rights[keep][-1]), col[-1] + 1)))
    # Per column the peak of the samples starting in it (sorted: equal columns adjoin).
    starts = np.r_[0, np.flatnonzero(np.diff(col)) + 1]
    owners, peaks = col[starts], np.maximum.reduceat(tops, starts, axis=1)
    # Every column up to the next sample's takes the sample's values.
    filled = np.repeat(peaks, np.diff(np.r_[owners, last]), axis=1)
    cols = np.arange(int(owners[0]), last)
    # Pixel rows each band's top reaches from the bottom (rounded: equal tops touch).
    top_px = np.clip(np.rint(filled / y1 * height), 0, height).astype(np.int64)
    # Each column, top to bottom, is runs: empty, then the top band down to band 0.
    bands = stacked.shape[0]
    runs = np.empty((cols.size, bands + 1), dtype=np.int64)
    runs[:, 0] = height - top_px[-1]
    runs[:, 1:] = np.diff(top_px, axis=0, prepend=0)[::-1].T
    values = np.r_[0, np.arange(bands, 0, -1)].astype(np.uint8)
    column_major = np.repeat(np.tile(values, cols.size), runs.ravel())
    out[:, int(cols[0]) : int(cols[-1]) + 1] = column_major.reshape(cols.size, height).T
    return out


class StageBands(pg.GraphicsObject):  # type: ignore[misc]
    """The stage bands of a plot, drawn from their cumulative tops (bottom band first)."""

    def __init__(self, colours: Sequence[str]) -> None:
        super().__init__()
        # Index 0 is transparent: the plot's background and grid show above the bands.
        self._table = [0] + [QColor(c).rgba() for c in colours]
        self._x = np.zeros(0)
        self._tops = np.zeros((len(colours), 0))
        self._view = (0.0, 1.0, 1.0)
        self._size = (0, 0)
        self._pixels = np.zeros((0, 0), dtype=np.uint8)
        self._image: QImage | None = None
        #: Images rendered (data, range or size changed); paints only copy the last one.
        self.renders = 0

    def set_data(
        self, x: np.ndarray, stacked: np.ndarray, view: tuple[float, float, float]
    ) -> None:
        """``stacked``: one cumulative row per band; ``view``: (x0, x1, y1) of the plot."""
        self._x, self._tops, self._view = x, stacked, view
        self._render()

    def set_size(self, width: int, height: int) -> None:
        """The plot's data area in pixels; a new size renders the image again."""
        size = (min(max(width, 0), MAX_SIDE), min(max(height, 0), MAX_SIDE))
        if size != self._size:
            self._size = size
            self._render()

    def band(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(x, top) of band ``i`` as last given."""
        if self._tops.shape[1] == 0:
            return np.zeros(0), np.zeros(0)
        return self._x, self._tops[i]

    def pixels(self) -> np.ndarray:
        """The band index of each pixel as drawn (0: none), row 0 at the top."""
        return self._pixels

    def _render(self) -> None:
        self.prepareGeometryChange()
        w, h = self._size
        self._pixels = band_index_image(self._x, self._tops, self._view, w, h)
        self.renders += 1
        if self._x.size == 0 or w == 0 or h == 0:
            self._image = None
        else:
            image = QImage(self._pixels.data, w, h, w, QImage.Format.Format_Indexed8)
            image.setColorTable(self._table)
            # One conversion per render, so a paint is a plain copy.
            self._image = image.convertToFormat(QImage.Format.Format_ARGB32_Premultiplied)
        self.update()

    def boundingRect(self) -> QRectF:
        x0, x1, y1 = self._view
        return QRectF(x0, 0.0, x1 - x0, y1)

    def paint(self, p: QPainter, *args: Any) -> None:
        if self._image is None:
            return
        x0, x1, y1 = self._view
        # The image is at the device's size already: no smoothing, a copy.
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        # Image row 0 is the top (y1); the view's y axis points up, hence the flip.
        p.save()
        p.translate(x0, y1)
        p.scale((x1 - x0) / self._image.width(), -y1 / self._image.height())
        p.drawImage(0, 0, self._image)
        p.restore()
