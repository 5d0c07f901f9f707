"""The latency panel's numbers: rolling percentiles per stage, and the camera's link.

(b) of the panel: rolling p50/p90/p99/max per stage and end-to-end, run-wide p99
beside them; first inference is excluded (it would poison every tail) and shown in
the summary line. Cells are only rewritten when their text or colour changes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from edgeconsole.core.frames import OPTIONAL_STAGES
from edgeconsole.session.api import LatencySnapshot, SeriesStats
from edgeconsole.ui.latency_charts import ROWS
from edgeconsole.ui.theme import COLOURS

TABLE_COLUMNS: tuple[str, ...] = ("p50", "p90", "p99", "max", "run p99")


def fmt_ms(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


class PercentileTable(QTableWidget):
    """Rolling percentiles per stage and end-to-end; run-wide p99 beside them."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(len(ROWS), len(TABLE_COLUMNS), parent)
        self.setHorizontalHeaderLabels(list(TABLE_COLUMNS))
        self.setVerticalHeaderLabels(list(ROWS))
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setAlternatingRowColors(True)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.horizontalHeader().setSectionResizeMode(
            len(TABLE_COLUMNS) - 1, QHeaderView.ResizeMode.ResizeToContents
        )
        # Five numeric columns share a narrow box: tight header padding keeps
        # "run p99" whole.
        self.setStyleSheet("QHeaderView::section { padding: 3px 1px; }")
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.verticalHeader().setDefaultSectionSize(24)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setToolTip(
            "Rolling window percentiles in milliseconds; 'run p99' covers the "
            "whole run. First inference is excluded and shown below."
        )
        bold = QFont(self.font())
        bold.setBold(True)
        # Our own references: updates touch these, never look items up.
        self._cells: list[list[QTableWidgetItem]] = []
        for r, name in enumerate(ROWS):
            row = []
            for c in range(len(TABLE_COLUMNS)):
                cell = QTableWidgetItem("—")
                cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if name == "e2e":
                    cell.setFont(bold)
                self.setItem(r, c, cell)
                row.append(cell)
            self._cells.append(row)
        #: Which cells show red now (a foreground set again repaints its cell).
        self._red = [[False] * len(TABLE_COLUMNS) for _ in ROWS]
        self._over = QColor(COLOURS.fail)
        self._normal = QColor(COLOURS.text)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.show_optional(())

    def show_optional(self, names: Sequence[str]) -> None:
        """Show the rows of these optional stages (others stay hidden)."""
        for name in OPTIONAL_STAGES:
            self.setRowHidden(ROWS.index(name), name not in names)
        visible = len(ROWS) - len(OPTIONAL_STAGES) + len([n for n in names if n in ROWS])
        self.setFixedHeight(self.horizontalHeader().sizeHint().height() + 24 * visible + 4)

    def cell_text(self, row: str, column: str) -> str:
        return self._cells[ROWS.index(row)][TABLE_COLUMNS.index(column)].text()

    def cell(self, row: str, column: str) -> QTableWidgetItem:
        return self._cells[ROWS.index(row)][TABLE_COLUMNS.index(column)]

    def apply(self, stats: LatencySnapshot) -> None:
        budget = stats.budget_ms
        for r, name in enumerate(ROWS):
            rolling = stats.rolling.get(name) or SeriesStats(0, None, None, None, None)
            run = stats.run.get(name) or SeriesStats(0, None, None, None, None)
            values = (rolling.p50, rolling.p90, rolling.p99, rolling.max, run.p99)
            for c, v in enumerate(values):
                cell = self._cells[r][c]
                text = fmt_ms(v)
                if cell.text() != text:
                    cell.setText(text)
                over = name == "e2e" and budget is not None and v is not None and v > budget
                if self._red[r][c] != over:  # setting it again repaints the cell
                    self._red[r][c] = over
                    cell.setForeground(self._over if over else self._normal)


_CLOCK_WORDS = {
    "latched": "camera clock (latched)",
    "estimated": "camera clock (estimated: a lower bound)",
    "host": "arrival (the camera gives no timestamp)",
}


def camera_text(camera: dict[str, Any]) -> str:
    """One paragraph: the camera, its link counters, where capture starts, triggers."""
    st = camera.get("stream", {})
    cam = camera.get("camera") or {}
    who = f"{cam.get('vendor', '')} {cam.get('model', '')} {cam.get('serial', '')}".strip()
    bad = COLOURS.fail
    warn = COLOURS.warn

    def count(n: int, what: str, colour: str) -> str:
        return f"<span style='color:{colour}'><b>{n}</b> {what}</span>" if n else f"0 {what}"

    parts = [
        f"<b>Camera</b> {who or camera.get('source', '')}",
        f"{st.get('completed', 0)} frames",
        count(st.get("incomplete", 0), "incomplete (not judged)", bad),
        count(st.get("missing_packets", 0), "packets missing", warn),
        f"{st.get('resent_packets', 0)} resent",
        count(st.get("dropped_buffers", 0), "buffers dropped", warn),
        count(st.get("missing_frames", 0), "frames lost on the link", bad),
    ]
    if camera.get("reconnects"):
        parts.append(count(camera["reconnects"], "reconnects", warn))
    clock = camera.get("clock", {}).get("method", "")
    parts.append(f"capture from {_CLOCK_WORDS.get(clock, clock)}")
    trig = camera.get("trigger", {})
    if trig.get("issued"):
        lat = trig.get("latency_ms") or {}
        parts.append(
            f"triggers {trig.get('answered', 0)}/{trig['issued']} answered, "
            + count(trig.get("missing", 0), "missing", bad)
            + (f", trigger→frame p99 {lat['p99']} ms" if lat else "")
        )
    if camera.get("state") == "reconnecting":
        parts.append(f"<span style='color:{warn}'><b>reconnecting…</b></span>")
    return " · ".join(parts)
