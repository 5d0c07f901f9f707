"""Benchmark results: the figures, the verdict against the budget, and a latency
histogram with the budget line."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from edgeconsole.ui.theme import COLOURS

MAX_BINS = 60


def _ms(v: float) -> str:
    return f"{v:.3f} ms" if v < 100 else f"{v:.1f} ms"


class BenchView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.verdict = QLabel("Select a verified bundle and press Benchmark.")
        self.verdict.setWordWrap(True)
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["Measure", "Value"])
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(
            0, QHeaderView.ResizeMode.ResizeToContents
        )
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setAccessibleName("Benchmark results")
        self.plot = pg.PlotWidget(background=COLOURS.panel)
        self.plot.setLabel("bottom", "latency (ms)")
        self.plot.getAxis("bottom").enableAutoSIPrefix(False)
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        self.plot.setLabel("left", "runs")
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.setMinimumHeight(200)
        self.plot.setTitle("Latency histogram", color=COLOURS.text_dim)
        self.bars: pg.BarGraphItem | None = None
        self.budget_line: pg.InfiniteLine | None = None
        self.p95_line: pg.InfiniteLine | None = None
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(self.plot)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setSizes([470, 300])
        self.table.verticalHeader().setDefaultSectionSize(22)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.verdict)
        lay.addWidget(split, 1)
        self.result: Any = None

    def set_message(self, text: str, colour: str | None = None) -> None:
        self.verdict.setText(text)
        self.verdict.setStyleSheet(f"color: {colour}; font-weight: bold;" if colour else "")

    def rows(self) -> dict[str, str]:
        out = {}
        for r in range(self.table.rowCount()):
            k, v = self.table.item(r, 0), self.table.item(r, 1)
            if k is not None and v is not None:
                out[k.text()] = v.text()
        return out

    def show_result(self, r: Any) -> None:
        """``r`` is an ``inference.bench.BenchResult``."""
        self.result = r
        rows = [
            ("Model", r.model),
            ("Providers / threads", f"{', '.join(r.providers)} / {r.threads or 'auto'}"),
            ("Input", ", ".join(f"{k} {v}" for k, v in r.input_shapes.items())),
            ("Load", "—" if r.load_ms is None else _ms(r.load_ms)),
            ("First inference", _ms(r.first_inference_ms)),
            ("Runs (warm-up)", f"{r.runs} ({r.warmup})"),
            ("p50", _ms(r.p50_ms)),
            ("p90", _ms(r.p90_ms)),
            ("p95", _ms(r.p95_ms)),
            ("p99", _ms(r.p99_ms)),
            ("p99.9", _ms(r.p999_ms)),
            ("min", _ms(r.min_ms)),
            ("max", _ms(r.max_ms)),
            ("Throughput", f"{r.throughput_per_s:,.0f} /s"),
            ("CPU", f"{r.cpu_percent:.0f} % of one core"),
            ("Peak memory", f"{r.peak_rss_mb:.0f} MB (whole app)"),
            ("Budget (p95)", "none" if r.budget_ms is None else f"{r.budget_ms:g} ms"),
            ("Result", r.verdict),
        ]
        self.table.setRowCount(len(rows))
        for i, (k, v) in enumerate(rows):
            self.table.setItem(i, 0, QTableWidgetItem(k))
            item = QTableWidgetItem(v)
            if k == "Result" and r.passed is not None:
                item.setForeground(pg.mkColor(COLOURS.ok if r.passed else COLOURS.fail))
            self.table.setItem(i, 1, item)
        if r.passed is None:
            self.set_message(f"{r.verdict} — {r.runs} runs", COLOURS.info)
        else:
            self.set_message(
                f"{'✔' if r.passed else '✖'} {r.verdict}", COLOURS.ok if r.passed else COLOURS.fail
            )
        self._histogram(r.samples_ms, r.budget_ms, r.p95_ms)

    def _histogram(self, samples: np.ndarray | None, budget: float | None, p95: float) -> None:
        for item in (self.bars, self.budget_line, self.p95_line):
            if item is not None:
                self.plot.removeItem(item)
        self.bars = self.budget_line = self.p95_line = None
        if samples is None or len(samples) == 0:
            return
        # Up to p99 (slower runs pile into the last bar) plus the budget when it is
        # near: a few stray outliers must not squash the picture into one bar.
        hi = float(np.quantile(samples, 0.99)) * 1.1
        lo = float(samples.min())
        if budget is not None and budget < hi * 3:
            hi = max(hi, budget * 1.05)
        if hi <= lo:
            hi = lo + 1e-3
        counts, edges = np.histogram(
            np.clip(samples, lo, hi),
            bins=min(MAX_BINS, max(10, len(samples) // 10)),
            range=(lo, hi),
        )
        self.bars = pg.BarGraphItem(
            x0=edges[:-1],
            x1=edges[1:],
            y0=0,
            height=counts,
            brush=pg.mkBrush(COLOURS.info),
            pen=pg.mkPen(COLOURS.panel),
        )
        self.plot.addItem(self.bars)
        self.p95_line = pg.InfiniteLine(
            p95,
            angle=90,
            pen=pg.mkPen(COLOURS.text_dim, width=1, style=Qt.PenStyle.DashLine),
            label=f"p95 {p95:.3g} ms",
            labelOpts={"position": 0.75, "color": COLOURS.text_dim},
        )
        self.plot.addItem(self.p95_line)
        if budget is not None:
            within = budget <= hi * 1.5
            self.budget_line = pg.InfiniteLine(
                budget if within else hi,
                angle=90,
                pen=pg.mkPen(COLOURS.warn, width=2),
                label=f"budget {budget:g} ms" + ("" if within else " →"),
                labelOpts={"position": 0.92, "color": COLOURS.warn},
            )
            self.plot.addItem(self.budget_line)
        self.plot.enableAutoRange()
