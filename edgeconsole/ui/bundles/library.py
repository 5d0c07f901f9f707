"""The bundle library table: one row per ``.ecb`` file, verdict first."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QFont

from edgeconsole.session.workshop import (
    INCOMPATIBLE,
    UNKNOWN_SIGNER,
    VERIFIED,
    BundleRow,
)
from edgeconsole.ui.theme import COLOURS

COLUMNS = ("Status", "Name", "Ver", "Why", "Signer", "Size", "Hardware")
_MARK = {VERIFIED: "✔", UNKNOWN_SIGNER: "?", INCOMPATIBLE: "⚠"}


def status_colour(status: str) -> str:
    if status == VERIFIED:
        return COLOURS.ok
    if status in (UNKNOWN_SIGNER, INCOMPATIBLE):
        return COLOURS.warn
    return COLOURS.fail


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


class LibraryModel(QAbstractTableModel):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[BundleRow] = []
        self._bold = QFont()
        self._bold.setBold(True)

    def set_rows(self, rows: list[BundleRow]) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def text(self, row: BundleRow, col: int) -> str:
        if col == 0:
            return f"{_MARK.get(row.status, '✖')} {row.status}"
        if col == 1:
            return row.name or row.path.name
        if col == 2:
            return "" if row.version is None else str(row.version)
        if col == 3:
            return row.reason
        if col == 4:
            return row.signer
        if col == 5:
            return human_size(row.size)
        return ", ".join(row.hardware_ids)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = 0) -> Any:
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self.text(row, col)
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{row.path}\n{row.status}: {row.reason}"
        if role == Qt.ItemDataRole.ForegroundRole and col == 0:
            return QBrush(QColor(status_colour(row.status)))
        if role == Qt.ItemDataRole.FontRole and col == 0:
            return self._bold
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (2, 5):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None
