"""A logic-analyser timeline of the handshake signals: one lane per bit, time to the right.

Painted with QPainter (no plot library): a lane is a step trace, high filled in
the signal's colour, low a thin dim line; the newest edge is at the right edge and
the window scrolls with the clock. Edges come from ``PlcSnapshot.edges``
(monotonic ns, signal, value); the level before the first edge is unknown and
drawn dashed.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from edgeconsole.ui.theme import COLOURS

#: Lanes top to bottom: the PLC's signals, then the camera's.
LANES: tuple[tuple[str, str, str], ...] = (
    ("trigger", "trigger", COLOURS.info),
    ("trigger_ready", "trigger ready", COLOURS.text_dim),
    ("results_ready", "results ready", COLOURS.warn),
    ("ok", "OK", COLOURS.ok),
    ("ng", "NG", COLOURS.fail),
    ("error", "error", COLOURS.fail),
    ("results_ack", "results ack", COLOURS.info),
)
PLC_SIDE = {"trigger", "results_ack"}
KEEP_EDGES = 20_000


class HandshakeTimeline(QWidget):
    def __init__(self, parent: QWidget | None = None, *, window_s: float = 5.0) -> None:
        super().__init__(parent)
        self.setObjectName("plcTimeline")
        self.window_s = window_s
        self.lanes = [lane for lane in LANES]
        self._edges: dict[str, list[tuple[int, int]]] = {name: [] for name, _, _ in LANES}
        self._known: set[str] = set()
        self.now_ns = 0
        self.paused = False
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumHeight(150)

    def sizeHint(self) -> QSize:
        return QSize(800, 200)

    def set_signals(self, names: set[str]) -> None:
        """Show only the lanes the map has."""
        self.lanes = [lane for lane in LANES if lane[0] in names]
        self.update()

    def clear(self) -> None:
        for d in self._edges.values():
            d.clear()
        self._known.clear()
        self.update()

    def add_edges(self, edges: list[tuple[int, str, int]], now_ns: int) -> None:
        for t, name, value in edges:
            lane = self._edges.get(name)
            if lane is not None:
                lane.append((t, int(bool(value))))
                self._known.add(name)
        if not self.paused:
            self.now_ns = max(self.now_ns, now_ns)
            self._trim()
        self.update()

    def _trim(self) -> None:
        """Keep a few windows of edges (and the last one before them: the level there),
        so painting stays a walk over a few hundred edges however long it runs."""
        cutoff = self.now_ns - int(4 * self.window_s * 1e9)
        for lane in self._edges.values():
            i = 0
            while i + 1 < len(lane) and lane[i + 1][0] < cutoff:
                i += 1
            if i:
                del lane[:i]
            if len(lane) > KEEP_EDGES:
                del lane[: len(lane) - KEEP_EDGES]

    def level_at(self, name: str, t_ns: int) -> int | None:
        """The level of ``name`` at ``t_ns`` (None: no edge seen before it)."""
        level = None
        for t, v in self._edges.get(name, ()):
            if t > t_ns:
                break
            level = v
        return level

    # ---- painting -------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        p.fillRect(self.rect(), QColor(COLOURS.panel))
        font = QFont(self.font())
        p.setFont(font)
        metrics = p.fontMetrics()
        label_w = max(metrics.horizontalAdvance(label) for _, label, _ in LANES) + 24
        axis_h = metrics.height() + 8
        lanes = self.lanes or list(LANES)
        right = metrics.horizontalAdvance("now") // 2 + 8
        plot = QRectF(label_w, 6, max(10.0, self.width() - label_w - right), 0)
        plot.setHeight(max(10.0, self.height() - axis_h - 10))
        lane_h = plot.height() / len(lanes)
        t1 = self.now_ns
        t0 = t1 - int(self.window_s * 1e9)
        span = max(1, t1 - t0)

        def x_of(t: int) -> float:
            return plot.left() + (t - t0) / span * plot.width()

        # Time grid: a line every 0.5 s (labelled relative to now).
        p.setPen(QPen(QColor(COLOURS.border), 1))
        step = (
            0.25
            if self.window_s <= 1
            else 0.5
            if self.window_s <= 3
            else 1.0
            if (self.window_s <= 10)
            else 5.0
        )
        k = 0
        while k * step <= self.window_s + 1e-9:
            x = plot.right() - k * step / self.window_s * plot.width()
            p.drawLine(QPointF(x, plot.top()), QPointF(x, plot.bottom()))
            text = "now" if k == 0 else f"-{k * step:g} s"
            w = metrics.horizontalAdvance(text)
            p.setPen(QColor(COLOURS.text_dim))
            p.drawText(QPointF(x - w / 2, plot.bottom() + metrics.ascent() + 4), text)
            p.setPen(QPen(QColor(COLOURS.border), 1))
            k += 1
        for i, (name, label, colour) in enumerate(lanes):
            top = plot.top() + i * lane_h
            hi_y = top + lane_h * 0.2
            lo_y = top + lane_h * 0.8
            p.setPen(QColor(COLOURS.info if name in PLC_SIDE else COLOURS.text))
            p.drawText(
                QRectF(4, top, label_w - 10, lane_h),
                int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
                label,
            )
            self._draw_lane(p, name, QColor(colour), t0, t1, x_of, hi_y, lo_y)
        p.setPen(QColor(COLOURS.text_dim))
        p.drawText(
            QRectF(4, plot.bottom() + 2, label_w - 10, axis_h),
            int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop),
            "PAUSED" if self.paused else "",
        )
        p.end()

    def _draw_lane(
        self,
        p: QPainter,
        name: str,
        colour: QColor,
        t0: int,
        t1: int,
        x_of: object,
        hi_y: float,
        lo_y: float,
    ) -> None:
        xf = x_of  # (t) -> x
        assert callable(xf)
        edges = self._edges[name]
        level = self.level_at(name, t0)
        segments: list[tuple[int, int, int | None]] = []  # (start, end, level)
        start = t0
        for t, v in edges:
            if t <= t0:
                continue
            if t > t1:
                break
            segments.append((start, t, level))
            start, level = t, v
        segments.append((start, t1, level))
        fill = QColor(colour)
        fill.setAlpha(70)
        # Low is the resting level: thin and dim, so a lane at rest (an error line that
        # never rose) reads as calm and a raised signal stands out.
        low = QColor(colour)
        low.setAlpha(110)
        for a, b, lv in segments:
            xa, xb = xf(a), xf(b)
            if lv is None:
                pen = QPen(QColor(COLOURS.text_dim), 1, Qt.PenStyle.DashLine)
                p.setPen(pen)
                p.drawLine(QPointF(xa, lo_y), QPointF(xb, lo_y))
                continue
            y = hi_y if lv else lo_y
            if lv:
                p.fillRect(QRectF(xa, hi_y, max(1.0, xb - xa), lo_y - hi_y), fill)
            p.setPen(QPen(colour, 2) if lv else QPen(low, 1))
            p.drawLine(QPointF(xa, y), QPointF(xb, y))
        # Vertical strokes at each edge inside the window.
        p.setPen(QPen(colour, 2))
        for t, _v in edges:
            if t0 < t <= t1:
                x = xf(t)
                p.drawLine(QPointF(x, hi_y), QPointF(x, lo_y))
