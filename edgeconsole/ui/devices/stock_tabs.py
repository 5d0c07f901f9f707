"""Statistics and shell tabs of a stock MCUmgr device (they show the session's view).

Statistics: a live table of every group's fields (value and rate per second)
and a plot of the selected field, while "Live" is on (the session then reads
the device once a second). Shell: the transcript of the commands run on the
device (each also in the journal) and a command line with history (Up/Down,
remembered between runs).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEvent, QObject, QSettings, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from edgeconsole.ui.deferred_plots import DeferredPlots
from edgeconsole.ui.devices.panel_parts import mono
from edgeconsole.ui.theme import COLOURS

MAX_HISTORY = 100


def settings_list(settings: QSettings | None, key: str) -> list[str]:
    """A list kept in QSettings (INI hands back a str for one element, None for none)."""
    value: Any = settings.value(key, []) if settings is not None else []
    if isinstance(value, str):
        return [value] if value else []
    return [str(v) for v in (value or [])]


class StatsTab(QWidget):
    def __init__(self, on_live: Callable[[bool], None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._on_live = on_live
        self.live = QCheckBox("Live (read every second)")
        self.live.setObjectName("statsLive")
        self.live.toggled.connect(self._on_live)
        self.error = QLabel("")
        self.error.setStyleSheet(f"color: {COLOURS.warn};")
        self.error.setWordWrap(True)
        self.table = QTableWidget(0, 4)
        self.table.setObjectName("statsTable")
        self.table.setHorizontalHeaderLabels(["Group", "Field", "Value", "Rate /s"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._draw)
        self.table.setMinimumHeight(96)  # three rows at least, however small the dock
        self._history: tuple[tuple[float, dict[str, float]], ...] = ()
        self._plots = DeferredPlots(self._build_plot, self, "Loading the chart…")
        self._curve: Any = None
        self._plot: Any = None
        layout = QVBoxLayout(self)
        layout.addWidget(self.live)
        layout.addWidget(self.error)
        layout.addWidget(self.table, 3)
        slot = self._plots.slot()
        slot.setMinimumHeight(90)
        layout.addWidget(slot, 2)

    def _build_plot(self) -> list[QWidget]:
        import pyqtgraph as pg

        plot = pg.PlotWidget()
        plot.setObjectName("statsPlot")
        plot.setBackground(COLOURS.panel)
        plot.showGrid(x=True, y=True, alpha=0.2)
        plot.setLabel("bottom", "s")
        self._plot = plot
        self._curve = plot.plot(pen=pg.mkPen(COLOURS.info, width=2))
        self._draw()
        return [plot]

    def selected_key(self) -> str:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        row = rows[0].row() if rows else 0
        g, f = self.table.item(row, 0), self.table.item(row, 1)
        return f"{g.text()}.{f.text()}" if g is not None and f is not None else ""

    def show_stats(self, stock: Any) -> None:
        self.live.blockSignals(True)
        self.live.setChecked(bool(stock.watching))
        self.live.blockSignals(False)
        self.error.setText(stock.stats_error)
        self.error.setVisible(bool(stock.stats_error))
        history = stock.stats_history
        rates: dict[str, float] = {}
        if len(history) >= 2:
            (t0, a), (t1, b) = history[-2], history[-1]
            if t1 > t0:
                rates = {k: (b[k] - a.get(k, b[k])) / (t1 - t0) for k in b}
        rows = [(g, k, v) for g, fields in stock.stats.items() for k, v in fields.items()]
        keep = self.selected_key()
        self.table.blockSignals(True)
        self.table.setRowCount(len(rows))
        for r, (g, k, v) in enumerate(rows):
            rate = rates.get(f"{g}.{k}")
            for c, text in enumerate((g, k, str(v), "–" if rate is None else f"{rate:.1f}")):
                item = self.table.item(r, c)
                if item is None:
                    item = QTableWidgetItem()
                    self.table.setItem(r, c, item)
                item.setText(text)
                if c >= 2:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
            if f"{g}.{k}" == keep:
                self.table.selectRow(r)
        self.table.blockSignals(False)
        self._history = history
        self._draw()

    def _draw(self) -> None:
        if self._curve is None:
            return
        key = self.selected_key()
        points = [(t, s[key]) for t, s in self._history if key in s]
        self._curve.setData([p[0] for p in points], [p[1] for p in points])
        if self._plot is not None:
            self._plot.setTitle(key, color=COLOURS.text, size="9pt")

    def plotted(self) -> tuple[list[float], list[float]]:
        if self._curve is None:
            return [], []
        x, y = self._curve.getData()
        return ([] if x is None else list(x)), ([] if y is None else list(y))


class ShellTab(QWidget):
    def __init__(
        self,
        run: Callable[[str], None],
        settings: QSettings | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._run = run
        self._settings = settings
        self.history: list[str] = self._load()
        self._pos = len(self.history)
        self._shown = 0
        self.transcript = QPlainTextEdit()
        self.transcript.setObjectName("shellTranscript")
        self.transcript.setReadOnly(True)
        self.transcript.setFont(mono())
        self.transcript.setMaximumBlockCount(5000)
        self.transcript.setPlaceholderText(
            "Commands run on the device's shell appear here (and in the journal)"
        )
        self.line = QLineEdit()
        self.line.setObjectName("shellLine")
        self.line.setFont(mono())
        self.line.setPlaceholderText("kernel version  (Enter runs, Up/Down for history)")
        self.line.returnPressed.connect(self.submit)
        self.line.installEventFilter(self)
        self.run_button = QPushButton("Run")
        self.run_button.setObjectName("shellRun")
        self.run_button.clicked.connect(self.submit)
        row = QHBoxLayout()
        row.addWidget(QLabel("$"))
        row.addWidget(self.line, 1)
        row.addWidget(self.run_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.transcript, 1)
        layout.addLayout(row)

    def _load(self) -> list[str]:
        return settings_list(self._settings, "stock/shell_history")[-MAX_HISTORY:]

    def submit(self) -> None:
        text = self.line.text().strip()
        if not text:
            return
        if not self.history or self.history[-1] != text:
            self.history.append(text)
            self.history = self.history[-MAX_HISTORY:]
            if self._settings is not None:
                self._settings.setValue("stock/shell_history", self.history)
        self._pos = len(self.history)
        self.line.clear()
        self._run(text)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if isinstance(event, QKeyEvent) and watched is self.line:
            key = event.key()
            if (
                event.type() == QEvent.Type.KeyPress
                and key in (Qt.Key.Key_Up, Qt.Key.Key_Down)
                and self.history
            ):
                step = -1 if key == Qt.Key.Key_Up else 1
                self._pos = max(0, min(len(self.history), self._pos + step))
                self.line.setText(self.history[self._pos] if self._pos < len(self.history) else "")
                return True
        return False

    def show_shell(self, entries: tuple[Any, ...], *, reset: bool = False) -> None:
        if reset or len(entries) < self._shown:
            self.transcript.clear()
            self._shown = 0
        for e in entries[self._shown :]:
            self.transcript.appendPlainText(f"$ {e.command}")
            if e.ret is None:
                self.transcript.appendHtml(
                    f'<span style="color:{COLOURS.fail}">{_escape(e.error)}</span>'
                )
            else:
                if e.output:
                    self.transcript.appendPlainText(e.output)
                if e.ret != 0:
                    self.transcript.appendHtml(
                        f'<span style="color:{COLOURS.warn}">[returned {e.ret}]</span>'
                    )
        self._shown = len(entries)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
