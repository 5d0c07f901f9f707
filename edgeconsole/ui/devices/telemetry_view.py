"""Live telemetry of one device: a plot per channel, the device's model output
with its threshold, and the shadow run's difference with its tolerance band.

It only shows :class:`~edgeconsole.session.device_telemetry.TelemetryBatch` es from
``session.poll()``. Curves are created once per channel and updated with
``setData`` (peak downsampling, clip to view); the window keeps a bounded
scroll-back buffer. Pause freezes the picture (new samples keep arriving into
the buffer) and lets the person drag and zoom back in time.

The pyqtgraph plots are built after the panel is first painted
(:mod:`edgeconsole.ui.deferred_plots`): until then a placeholder stands in their
place while batches keep filling the rings, labels and stats table; the build
then draws what arrived. pyqtgraph is imported by that build only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from edgeconsole.core.clock import now_ns
from edgeconsole.session.api import ShadowStatus
from edgeconsole.session.device_telemetry import TelemetryBatch
from edgeconsole.ui.deferred_plots import DeferredPlots
from edgeconsole.ui.devices.format import number_text
from edgeconsole.ui.theme import COLOURS

if TYPE_CHECKING:
    import pyqtgraph as pg

#: Distinct from the ok/fail/warn verdict colours (as in the other plots).
PALETTE = ("#4cc3ff", "#c792ea", "#21b3a4", "#f78c6c", "#d96bb0", "#c7a25a", "#82aaff", "#9ccc65")
WINDOWS_S = (5.0, 10.0, 30.0, 60.0, 300.0)
DEFAULT_WINDOW_S = 10.0
#: Scroll-back kept in the window (samples per channel; 5 min at 1 kHz).
CAPACITY = 300_000
SHADOW_CAPACITY = 20_000
REDRAW_INTERVAL_NS = 40_000_000
STATS_COLUMNS = ("Channel", "Last", "Min", "Max", "Mean")


class _Ring:
    """Times and rows, newest kept; compacts in place when full (amortised O(1))."""

    def __init__(self, capacity: int, width: int) -> None:
        self.capacity = capacity
        self.t = np.zeros(2 * capacity)
        self.v = np.full((2 * capacity, width), np.nan)
        self.n = 0
        self.start = 0

    @property
    def width(self) -> int:
        return int(self.v.shape[1])

    def extend(self, t: np.ndarray, v: np.ndarray) -> None:
        k = len(t)
        if k == 0:
            return
        if k > self.capacity:
            t, v, k = t[-self.capacity :], v[-self.capacity :], self.capacity
        if self.start + self.n + k > len(self.t):
            keep = min(self.n, self.capacity - k)
            s = self.start + self.n - keep
            self.t[:keep] = self.t[s : s + keep]
            self.v[:keep] = self.v[s : s + keep]
            self.start, self.n = 0, keep
        end = self.start + self.n
        self.t[end : end + k] = t
        w = min(v.shape[1], self.width)
        self.v[end : end + k, :w] = v[:, :w]
        if w < self.width:
            self.v[end : end + k, w:] = np.nan
        self.n += k
        if self.n > self.capacity:
            drop = self.n - self.capacity
            self.start += drop
            self.n -= drop

    def view(self, since: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        t = self.t[self.start : self.start + self.n]
        v = self.v[self.start : self.start + self.n]
        if since is not None and len(t):
            i = int(np.searchsorted(t, since))
            t, v = t[max(0, i - 1) :], v[max(0, i - 1) :]
        return t, v

    @property
    def last_t(self) -> float:
        return float(self.t[self.start + self.n - 1]) if self.n else 0.0


#: Plot rows shorter than this show no tick values on their y axis.
MIN_TICK_ROW_PX = 60


def _style_plot(plot: pg.PlotItem, name: str) -> None:
    import pyqtgraph as pg

    font = QFont()
    font.setPointSize(8)
    # No grid: grid lines are part of the axis picture, redrawn whenever the view
    # scrolls, and cost more than the curves (tests/benchmarks/bench_telemetry_ui.py).
    plot.showGrid(x=False, y=False)
    for axis in ("left", "bottom"):
        ax = plot.getAxis(axis)
        ax.setPen(pg.mkPen(COLOURS.border))
        ax.setTextPen(pg.mkPen(COLOURS.text_dim))
        ax.setStyle(tickFont=font)
    plot.getAxis("left").setWidth(52)
    # In a short dock a row gets ~30 px and its tick values pile on top of each other;
    # the stats table beside the plots gives the numbers then.
    vb = plot.getViewBox()
    left = plot.getAxis("left")

    def fit_ticks() -> None:
        show = vb.height() >= MIN_TICK_ROW_PX
        if left.style.get("showValues") != show:
            left.setStyle(showValues=show)

    vb.sigResized.connect(fit_ticks)
    # The channel name sits inside the plot, top left: a rotated axis label does not
    # fit a short plot and cannot be read at a glance.
    label = pg.TextItem(name, color=COLOURS.text, anchor=(0, 0))
    label.setFont(QFont(font.family(), 9, QFont.Weight.Bold))
    label.setParentItem(plot.getViewBox())
    label.setPos(4, 0)
    plot.channel_label = label
    plot.setMenuEnabled(False)
    plot.hideButtons()
    plot.setClipToView(True)
    plot.setDownsampling(auto=True, mode="peak")


class TelemetryView(QWidget):
    def __init__(self, parent: QWidget | None = None, capacity: int = CAPACITY) -> None:
        super().__init__(parent)
        self.setObjectName("telemetryView")
        self.setAccessibleName("Telemetry")
        self.capacity = capacity
        self.url: str | None = None
        self.channels: tuple[str, ...] = ()
        self.model_channel: str | None = None
        self.threshold: float | None = None
        self.window_s = DEFAULT_WINDOW_S
        self.paused = False
        self.dirty = False
        self.redraws = 0
        self.shadow_status = ShadowStatus()
        self._ring = _Ring(capacity, 0)
        self._shadow = _Ring(SHADOW_CAPACITY, 3)  # device, laptop, diff
        self._curves: dict[str, pg.PlotDataItem] = {}
        self._plots: dict[str, pg.PlotItem] = {}
        self._threshold_line: pg.InfiniteLine | None = None
        self._band: pg.LinearRegionItem | None = None
        self._last_redraw = 0

        self.device_label = QLabel("No device")
        f = QFont(self.device_label.font())
        f.setBold(True)
        self.device_label.setFont(f)
        self.rate_label = QLabel("–")
        self.rate_label.setObjectName("rateLabel")
        self.samples_label = QLabel("")
        self.dropped_label = QLabel("")
        self.dropped_label.setObjectName("droppedLabel")
        self.shadow_label = QLabel("")
        self.shadow_label.setObjectName("shadowFlag")
        self.pause_button = QPushButton("Pause")
        self.pause_button.setCheckable(True)
        self.pause_button.setObjectName("pauseButton")
        self.pause_button.setToolTip("Freeze the plots; drag or zoom to scroll back")
        self.pause_button.toggled.connect(self.set_paused)
        self.window_combo = QComboBox()
        for w in WINDOWS_S:
            self.window_combo.addItem(f"{w:g} s" if w < 60 else f"{w / 60:g} min", w)
        self.window_combo.setCurrentIndex(WINDOWS_S.index(DEFAULT_WINDOW_S))
        self.window_combo.setToolTip("Time shown while following")
        self.window_combo.currentIndexChanged.connect(
            lambda i: self.set_window(float(self.window_combo.itemData(i)))
        )
        bar = QHBoxLayout()
        bar.addWidget(self.device_label)
        bar.addSpacing(12)
        for label in (self.rate_label, self.samples_label, self.dropped_label):
            bar.addWidget(label)
            bar.addSpacing(10)
        bar.addWidget(self.shadow_label, 1)
        bar.addWidget(QLabel("Show"))
        bar.addWidget(self.window_combo)
        bar.addWidget(self.pause_button)

        #: The plots' canvas, built after the first paint (a placeholder until then).
        self.graphics: pg.GraphicsLayoutWidget | None = None
        self.deferred = DeferredPlots(self._build_graphics, self)
        self.stats = QTableWidget(0, len(STATS_COLUMNS))
        self.stats.setObjectName("telemetryStats")
        self.stats.setHorizontalHeaderLabels(list(STATS_COLUMNS))
        self.stats.verticalHeader().hide()
        self.stats.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.stats.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.stats.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.stats.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.shadow_text = QLabel("")
        self.shadow_text.setWordWrap(True)
        self.shadow_text.setAlignment(Qt.AlignmentFlag.AlignTop)
        side = QWidget()
        sl = QVBoxLayout(side)
        sl.setContentsMargins(0, 0, 0, 0)
        sl.addWidget(QLabel("<b>Last 10 s</b>"))
        sl.addWidget(self.stats, 1)
        sl.addWidget(QLabel("<b>Shadow run on the laptop</b>"))
        sl.addWidget(self.shadow_text)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.deferred.slot())
        split.addWidget(side)
        split.setStretchFactor(0, 4)
        split.setStretchFactor(1, 1)
        split.setSizes([900, 320])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(split, 1)
        self._show_shadow(ShadowStatus())

    # ---------------------------------------------------------------- device
    def set_device(self, url: str | None, label: str = "") -> None:
        if url == self.url:
            if label:
                self.device_label.setText(label)
            return
        self.url = url
        self.device_label.setText(label or (url or "No device"))
        self._reset(())

    def _reset(self, channels: tuple[str, ...]) -> None:
        self.channels = channels
        self._ring = _Ring(self.capacity, len(channels))
        self._shadow = _Ring(SHADOW_CAPACITY, 3)
        self.stats.setRowCount(0)
        if self.graphics is not None:
            self._build_plots(self.graphics)
        self.dirty = True

    def _build_graphics(self) -> tuple[QWidget]:
        import pyqtgraph as pg

        graphics = pg.GraphicsLayoutWidget()
        graphics.setBackground(COLOURS.panel)
        graphics.ci.setSpacing(2)
        self.graphics = graphics
        self._build_plots(graphics)
        # What arrived before the build: the whole scroll-back when paused (as
        # set_paused hands it) showing the last window; the followed window otherwise.
        if self.paused:
            self._show_x(self._ring.last_t)
            self._draw(since=None)
        else:
            self.dirty = True
            self.redraw(force=True)
        return (graphics,)

    def build_plots(self) -> None:
        """Build the plots now; otherwise they come after the view is first painted."""
        self.deferred.build()

    @property
    def plots_built(self) -> bool:
        return self.deferred.built

    def _build_plots(self, graphics: pg.GraphicsLayoutWidget) -> None:
        """One plot per channel (the model output and the shadow difference last)."""
        import pyqtgraph as pg

        graphics.clear()
        self._curves.clear()
        self._plots.clear()
        self._threshold_line = None
        self._band = None
        first: pg.PlotItem | None = None
        row = 0
        signals = [c for c in self.channels if c != self.model_channel]
        for i, name in enumerate(signals):
            plot = graphics.addPlot(row=row, col=0)
            _style_plot(plot, name)
            colour = PALETTE[i % len(PALETTE)]
            # Width 1: wider pens take Qt's slow stroker path at thousands of points.
            self._curves[name] = plot.plot(pen=pg.mkPen(colour, width=1))
            self._plots[name] = plot
            row += 1
            first = first or plot
        if self.model_channel is not None:
            plot = graphics.addPlot(row=row, col=0)
            _style_plot(plot, f"{self.model_channel} (device)")
            self._curves[self.model_channel] = plot.plot(pen=pg.mkPen(COLOURS.text, width=1))
            self._threshold_line = pg.InfiniteLine(
                angle=0,
                pen=pg.mkPen(COLOURS.warn, width=1.5, style=Qt.PenStyle.DashLine),
                label="threshold {value:.4g}",
                labelOpts={"color": COLOURS.warn, "position": 0.6, "anchors": [(0, 0), (0, 0)]},
            )
            self._threshold_line.setVisible(False)
            plot.addItem(self._threshold_line)
            self._plots[self.model_channel] = plot
            row += 1
            first = first or plot
            shadow = graphics.addPlot(row=row, col=0)
            _style_plot(shadow, "device − laptop")
            self._band = pg.LinearRegionItem(
                (0.0, 0.0),
                orientation="horizontal",
                movable=False,
                brush=pg.mkBrush(47, 211, 107, 40),
                pen=pg.mkPen(COLOURS.ok, width=1),
            )
            self._band.setVisible(False)
            shadow.addItem(self._band)
            self._curves["__shadow__"] = shadow.plot(
                pen=pg.mkPen(COLOURS.info, width=1.5),
                symbol="o",
                symbolSize=5,
                symbolBrush=COLOURS.info,
                symbolPen=None,
            )
            # One brush per point: clipping or downsampling this sparse curve would
            # hand the scatter fewer points than brushes (pyqtgraph raises on that).
            self._curves["__shadow__"].setClipToView(False)
            self._curves["__shadow__"].setDownsampling(auto=False)
            self._plots["__shadow__"] = shadow
            row += 1
        plots = list(self._plots.values())
        for p in plots:
            if p is not first and first is not None:
                p.setXLink(first)
            p.getAxis("bottom").setStyle(showValues=p is plots[-1])
            p.setMouseEnabled(x=self.paused, y=False)
        if plots:
            plots[-1].setLabel("bottom", "seconds", color=COLOURS.text_dim)

    # ----------------------------------------------------------------- data
    def add_batch(self, batch: TelemetryBatch) -> None:
        """Take one poll's telemetry (for the device shown; others are ignored)."""
        if batch.url != self.url:
            return
        model = batch.model_channel
        if batch.channels and (batch.channels != self.channels or model != self.model_channel):
            self.model_channel = model
            self._reset(batch.channels)
        if len(batch.t):
            self._ring.extend(batch.t, batch.values)
        if batch.shadow:
            pts = batch.shadow
            self._shadow.extend(
                np.array([p.t_s for p in pts]),
                np.array([[p.device, p.laptop, p.diff] for p in pts]),
            )
        self.threshold = batch.threshold
        self.shadow_status = batch.shadow_status
        self.rate_label.setText(f"{batch.rate_hz:.1f} lines/s")
        self.samples_label.setText(f"{batch.samples:,} samples")
        dropped = batch.dropped_lines + batch.lost
        self.dropped_label.setText(
            f"dropped {batch.dropped_lines:,}" + (f" + {batch.lost:,} unread" if batch.lost else "")
        )
        self.dropped_label.setStyleSheet(f"color: {COLOURS.warn};" if dropped else "")
        self._show_stats(batch)
        self._show_shadow(batch.shadow_status)
        self.dirty = True

    def _show_stats(self, batch: TelemetryBatch) -> None:
        rows = batch.stats
        self.stats.setRowCount(len(rows))
        for r, st in enumerate(rows):
            cells = (
                st.name,
                number_text(st.last),
                number_text(st.min),
                number_text(st.max),
                number_text(st.mean),
            )
            for c, text in enumerate(cells):
                item = self.stats.item(r, c)
                if item is None:
                    item = QTableWidgetItem()
                    if c:
                        item.setTextAlignment(
                            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                        )
                    self.stats.setItem(r, c, item)
                if item.text() != text:
                    item.setText(text)

    def _show_shadow(self, s: ShadowStatus) -> None:
        if not s.available:
            self.shadow_label.setText("Shadow: off")
            self.shadow_label.setStyleSheet(f"color: {COLOURS.text_dim};")
            self.shadow_text.setText(s.reason or "–")
            return
        if s.compared == 0:
            flag, colour = "Shadow: waiting for a window", COLOURS.text_dim
        elif s.diverging:
            flag, colour = "✗ DIVERGING from the laptop", COLOURS.fail
        else:
            flag, colour = "✓ Device matches the laptop", COLOURS.ok
        self.shadow_label.setText(flag)
        self.shadow_label.setStyleSheet(f"color: {colour}; font-weight: bold;")
        self.shadow_text.setText(
            f"{s.bundle} run on the laptop over the device's own windows.<br>"
            f"Tolerance ±{number_text(s.tolerance)} (the bundle's golden tolerance)<br>"
            f"Compared {s.compared:,}, beyond tolerance "
            f"<span style='color:{COLOURS.fail if s.divergent else COLOURS.ok}'>"
            f"{s.divergent:,}</span><br>"
            f"Last difference {number_text(s.last_diff, 3)}, "
            f"largest {number_text(s.max_abs_diff, 3)}"
        )

    # --------------------------------------------------------------- drawing
    def set_paused(self, paused: bool) -> None:
        self.paused = paused
        self.pause_button.setText("Resume" if paused else "Pause")
        for p in self._plots.values():
            p.setMouseEnabled(x=paused, y=False)
        if paused:
            # Hand the plots the whole scroll-back once; drag/zoom then needs no redraw.
            self._draw(since=None)
        else:
            self.dirty = True
            self.redraw()

    def set_window(self, seconds: float) -> None:
        self.window_s = seconds
        self.dirty = True

    def redraw(self, force: bool = False) -> bool:
        """Update the curves (at most every REDRAW_INTERVAL_NS unless ``force``).

        Before the plots are built nothing is drawn and the view stays dirty: the
        build draws it."""
        t = now_ns()
        if self.paused or not self.dirty or self.graphics is None:
            return False
        if not force and t - self._last_redraw < REDRAW_INTERVAL_NS:
            return False
        self._last_redraw = t
        end = self._ring.last_t
        # Range first: setData then clips and downsamples once, for the new view.
        self._show_x(end)
        self._draw(since=end - self.window_s)
        self.dirty = False
        self.redraws += 1
        return True

    def _show_x(self, end: float) -> None:
        """The linked plots' x range: the window up to ``end``."""
        if self._plots:
            first = next(iter(self._plots.values()))
            first.setXRange(max(0.0, end - self.window_s), max(end, self.window_s), padding=0)

    def _draw(self, since: float | None) -> None:
        if self.graphics is None:
            return  # the build draws what arrived meanwhile
        t, v = self._ring.view(since)
        t = t.copy()  # the ring compacts in place; plots keep what they are given
        for j, name in enumerate(self.channels):
            curve = self._curves.get(name)
            if curve is not None and j < v.shape[1]:
                curve.setData(t, v[:, j].copy(), connect="finite")
        line = self._threshold_line
        if line is not None:
            line.setVisible(self.threshold is not None)
            if self.threshold is not None:
                line.setValue(self.threshold)
                self._fit_with_threshold(v)
        st, sv = self._shadow.view(since)
        curve = self._curves.get("__shadow__")
        if curve is not None:
            colours = [
                COLOURS.fail
                if self.shadow_status.tolerance is not None
                and abs(d) > self.shadow_status.tolerance
                else COLOURS.info
                for d in sv[:, 2]
            ]
            curve.setData(st.copy(), sv[:, 2].copy(), symbolBrush=[QColor(c) for c in colours])
        band = self._band
        tol = self.shadow_status.tolerance
        if band is not None:
            band.setVisible(tol is not None)
            if tol is not None:
                band.setRegion((-tol, tol))

    def _fit_with_threshold(self, v: np.ndarray) -> None:
        """The model plot's y range holds the visible output and the threshold line."""
        name = self.model_channel
        if name is None or name not in self.channels or self.threshold is None:
            return
        col = v[:, self.channels.index(name)] if len(v) else np.zeros(0)
        col = col[np.isfinite(col)]
        lo = min(float(col.min()) if len(col) else self.threshold, self.threshold)
        hi = max(float(col.max()) if len(col) else self.threshold, self.threshold)
        pad = 0.12 * (hi - lo or 1.0)
        self._plots[name].setYRange(lo - pad, hi + pad, padding=0)

    def series(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """What a curve holds now (tests, screenshots)."""
        curve = self._curves.get(name)
        if curve is None:
            return np.zeros(0), np.zeros(0)
        x, y = curve.getData()
        return (np.zeros(0) if x is None else x), (np.zeros(0) if y is None else y)

    def plot_names(self) -> list[str]:
        return [str(p.channel_label.toPlainText()) for p in self._plots.values()]
