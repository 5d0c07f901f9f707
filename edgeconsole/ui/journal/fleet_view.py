"""The fleet view: every target this laptop has seen at the site, one row per slot.

    fleet = FleetView(session.journal)    # a dock or a tab; View ▸ Fleet (Ctrl+Shift+F)

Targets of the same hardware id that run different bundle versions (a partial
over-the-air round) are highlighted and explained in a banner above the table.
``refresh()`` re-reads the inventory; the view also re-reads when shown and on
a slow timer, so a target seen a moment ago appears without a click.
"""

from __future__ import annotations

import html
import sqlite3
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, QTimer
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from edgeconsole.core.errors import EdgeConsoleError
from edgeconsole.session.evidence import (
    RUNNING_STATES,
    FleetInconsistency,
    Journal,
    SlotRecord,
    TargetRecord,
    wall_ns,
)
from edgeconsole.ui.journal.common import fmt_ago, fmt_local
from edgeconsole.ui.theme import COLOURS

COLUMNS: tuple[str, ...] = (
    "Target",
    "Kind",
    "Hardware id",
    "Firmware",
    "Slot",
    "State",
    "Bundle",
    "Version",
    "Hash",
    "Last seen",
)
INCONSISTENT_BG = QColor("#4d3a0a")  # the warning bar's amber, dark enough for white text

Index = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True)
class FleetRow:
    target: TargetRecord
    slot: SlotRecord | None
    first_of_target: bool
    inconsistent: bool


class FleetModel(QAbstractTableModel):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: list[FleetRow] = []
        self.now_ns = wall_ns()
        self._bold = QFont()
        self._bold.setBold(True)

    def load(self, targets: list[TargetRecord], flagged_hw: set[str], now_ns: int) -> None:
        self.beginResetModel()
        self.now_ns = now_ns
        self.rows = []
        for t in targets:
            bad = t.hardware_id in flagged_hw
            slots: list[SlotRecord | None] = list(t.slots) or [None]
            for i, s in enumerate(slots):
                self.rows.append(FleetRow(t, s, i == 0, bad))
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def text(self, row: int, col: int) -> str:
        r = self.rows[row]
        t, s = r.target, r.slot
        # Target columns only on a target's first row: the table reads as groups.
        target_cols = {
            0: t.identity,
            1: t.kind or "—",
            2: t.hardware_id or "—",
            3: t.firmware or "—",
            9: f"{fmt_ago(t.last_seen_ns, self.now_ns)}",
        }
        if col in target_cols:
            return target_cols[col] if r.first_of_target else ""
        if s is None:
            return "no slots reported" if col == 4 else ""
        if col == 4:
            return s.slot
        if col == 5:
            return s.state
        if col == 6:
            return s.bundle_id or "(empty)"
        if col == 7:
            return "" if s.bundle_version is None else f"v{s.bundle_version}"
        if col == 8:
            return (s.bundle_hash or "")[:12]
        return ""

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        r = self.rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self.text(index.row(), col)
        if role == Qt.ItemDataRole.BackgroundRole and r.inconsistent:
            return INCONSISTENT_BG
        if role == Qt.ItemDataRole.ForegroundRole:
            if col == 5 and r.slot is not None:
                state = r.slot.state.upper()
                if state == "CONFIRMED" or state == "ACTIVE":
                    return QColor(COLOURS.ok)
                if state == "TRIAL":
                    return QColor(COLOURS.warn)
                return QColor(COLOURS.text_dim)
            if col == 4 and r.slot is None:
                return QColor(COLOURS.text_dim)
        if role == Qt.ItemDataRole.FontRole:
            running = r.slot is not None and r.slot.state.upper() in RUNNING_STATES
            if col == 0 or (r.inconsistent and running and col in (6, 7)):
                return self._bold
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == 8 and r.slot is not None and r.slot.bundle_hash:
                return f"sha256 {r.slot.bundle_hash}"
            if col == 9:
                t = r.target
                return (
                    f"first seen {fmt_local(t.first_seen_ns)}\n"
                    f"last seen {fmt_local(t.last_seen_ns)}"
                )
            if r.inconsistent:
                return "Same hardware as another target, but a different bundle version runs here"
        return None


def banner_text(problems: list[FleetInconsistency]) -> str:
    """Plain language for a person on the floor; rich text for the banner label."""
    if not problems:
        return ""
    lines = []
    for p in problems:
        who = "; ".join(
            f"<b>{html.escape(ident)}</b> runs {html.escape(', '.join(v) or 'nothing')}"
            for ident, v in sorted(p.running.items())
        )
        lines.append(
            f"Targets with hardware <b>{html.escape(p.hardware_id)}</b> do not run the same "
            f"bundle: {who}."
        )
    head = (
        "⚠ Fleet not consistent. "
        if len(problems) == 1
        else f"⚠ Fleet not consistent ({len(problems)} hardware types). "
    )
    return (
        head
        + " ".join(lines)
        + " An update round probably did not reach every target: flash the missing "
        "version (or roll back the others) so identical hardware runs identical models."
    )


class FleetView(QWidget):
    def __init__(
        self, journal: Journal, parent: QWidget | None = None, *, refresh_ms: int = 5000
    ) -> None:
        super().__init__(parent)
        self.setAccessibleName("Fleet view")
        self.journal = journal
        self.model = FleetModel(self)
        self.problems: list[FleetInconsistency] = []

        self.banner = QFrame()
        self.banner.setObjectName("messageBar")
        self.banner.setProperty("level", "warning")
        self.banner_label = QLabel()
        self.banner_label.setWordWrap(True)
        self.banner_label.setTextFormat(Qt.TextFormat.RichText)
        self.banner_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        b_layout = QHBoxLayout(self.banner)
        b_layout.setContentsMargins(12, 8, 12, 8)
        b_layout.addWidget(self.banner_label)
        self.banner.hide()

        self.summary = QLabel()
        self.summary.setObjectName("fleetSummary")
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh)
        top = QHBoxLayout()
        top.addWidget(self.summary, 1)
        top.addWidget(self.refresh_button)

        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(False)  # the amber rows must stand out alone
        self.table.setWordWrap(False)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(26)
        header = self.table.horizontalHeader()
        header.setHighlightSections(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.banner)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)

        self.timer = QTimer(self)
        self.timer.setInterval(refresh_ms)
        self.timer.timeout.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        try:
            targets = self.journal.fleet.targets()
            self.problems = self.journal.fleet.inconsistencies()
        except (EdgeConsoleError, OSError, sqlite3.Error) as exc:
            if isinstance(exc, sqlite3.ProgrammingError):
                self.timer.stop()  # the journal was closed (app shutting down)
            self.summary.setText(f"Cannot read the fleet inventory: {exc}")
            return
        flagged = {p.hardware_id for p in self.problems}
        self.model.load(targets, flagged, wall_ns())
        hw = {t.hardware_id for t in targets if t.hardware_id}
        site = self.journal.site().site
        where = f" at {site}" if site else ""
        self.summary.setText(
            f"{len(targets)} targets seen{where} · {len(hw)} hardware ids"
            + (f" · {len(flagged)} inconsistent" if flagged else " · all consistent")
            if targets
            else "No targets seen yet: connect a device or a gateway and it appears here."
        )
        text = banner_text(self.problems)
        self.banner_label.setText(text)
        self.banner.setVisible(bool(text))

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self.refresh()
        self.timer.start()

    def hideEvent(self, event: Any) -> None:
        self.timer.stop()
        super().hideEvent(event)
