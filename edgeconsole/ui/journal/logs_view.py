"""The logs view: the audit journal as a filterable table.

    view = LogsView(session.journal)      # a dock or a tab; Ctrl+L in the main window

Filters (level buttons, kind, search) run in SQLite through
``AuditJournal.entries``; the table shows at most ``limit`` newest rows. Follow
mode re-reads on a timer, appends only entries newer than the last one shown and
keeps the newest in sight. "Export selection" writes the selected rows (or every
shown row when none is selected) to a CSV file that a spreadsheet cannot be
tricked into executing (``journal.csvsafe``).
"""

from __future__ import annotations

import io
import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, QTimer
from PySide6.QtGui import QFont, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from edgeconsole.core.atomic import atomic_write
from edgeconsole.core.errors import EdgeConsoleError
from edgeconsole.session.evidence import LEVELS, AuditEntry, Journal, write_csv
from edgeconsole.ui.journal.common import fmt_iso, fmt_local, level_colour
from edgeconsole.ui.theme import COLOURS

COLUMNS: tuple[str, ...] = ("Time", "Level", "Target", "Kind", "Message")
CSV_HEADER: tuple[str, ...] = (
    "time",
    "level",
    "target",
    "kind",
    "message",
    "fields",
    "site",
    "technician",
)
ALL_KINDS = "All kinds"

Index = QModelIndex | QPersistentModelIndex


class LogsModel(QAbstractTableModel):
    """Audit entries, oldest first, at most ``limit`` of them (the oldest fall off)."""

    def __init__(self, limit: int = 5000, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.limit = limit
        self._rows: list[AuditEntry] = []
        self._bold = QFont()
        self._bold.setBold(True)

    # -- data in ---------------------------------------------------------------
    def reset(self, entries: Sequence[AuditEntry]) -> None:
        self.beginResetModel()
        self._rows = list(entries[-self.limit :])
        self.endResetModel()

    def append(self, entries: Sequence[AuditEntry]) -> int:
        """Add entries newer than the last one held; returns how many were added."""
        last = self._rows[-1].id if self._rows else -1
        new = [e for e in entries if e.id > last]
        if not new:
            return 0
        new = new[-self.limit :]
        overflow = len(self._rows) + len(new) - self.limit
        if overflow > 0:
            self.beginRemoveRows(QModelIndex(), 0, overflow - 1)
            del self._rows[:overflow]
            self.endRemoveRows()
        first = len(self._rows)
        self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
        self._rows.extend(new)
        self.endInsertRows()
        return len(new)

    def entry(self, row: int) -> AuditEntry:
        return self._rows[row]

    @property
    def entries(self) -> list[AuditEntry]:
        return list(self._rows)

    @property
    def last_entry(self) -> AuditEntry | None:
        return self._rows[-1] if self._rows else None

    # -- Qt model ----------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        e = self._rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return fmt_local(e.ts_ns)
            if col == 1:
                return e.level.upper()
            if col == 2:
                return e.target or "—"
            if col == 3:
                return e.kind
            return e.message
        if role == Qt.ItemDataRole.ForegroundRole and col in (1, 4):
            return level_colour(e.level)
        if role == Qt.ItemDataRole.FontRole and col == 1 and e.level in ("warning", "error"):
            return self._bold
        if role == Qt.ItemDataRole.ToolTipRole:
            detail = "\n".join(f"{k}: {v}" for k, v in e.fields.items())
            who = " · ".join(x for x in (e.site, e.technician) if x)
            return "\n".join(x for x in (e.message, detail, who) if x)
        return None


class LogsView(QWidget):
    def __init__(
        self,
        journal: Journal,
        parent: QWidget | None = None,
        *,
        limit: int = 5000,
        refresh_ms: int = 1000,
    ) -> None:
        super().__init__(parent)
        self.setAccessibleName("Logs view")
        self.journal = journal
        self.model = LogsModel(limit, self)
        self._kinds: set[str] = set()
        self._query: tuple[Any, ...] | None = None

        self.level_buttons: dict[str, QToolButton] = {}
        bar = QHBoxLayout()
        bar.setSpacing(6)
        bar.addWidget(QLabel("Levels:"))
        for level in LEVELS:
            b = QToolButton()
            b.setText(level.capitalize())
            b.setCheckable(True)
            b.setChecked(level != "debug")
            b.setToolTip(f"Show {level} entries")
            b.setObjectName("levelToggle")
            b.toggled.connect(self.refresh)
            self.level_buttons[level] = b
            bar.addWidget(b)
        self.kind_combo = QComboBox()
        self.kind_combo.addItem(ALL_KINDS)
        self.kind_combo.setMinimumContentsLength(12)
        self.kind_combo.setToolTip("Only entries of this kind")
        self.kind_combo.currentIndexChanged.connect(self.refresh)
        bar.addWidget(self.kind_combo)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search message, target or kind…  (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        bar.addWidget(self.search, 1)
        self.follow = QCheckBox("Follow")
        self.follow.setChecked(True)
        self.follow.setToolTip("Keep reading new entries and scroll to the newest")
        self.follow.toggled.connect(self._follow_changed)
        bar.addWidget(self.follow)
        self.export_button = QPushButton("Export selection…")
        self.export_button.setToolTip(
            "Save the selected rows (every shown row when none is selected) as CSV"
        )
        self.export_button.clicked.connect(self._export_clicked)
        bar.addWidget(self.export_button)

        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(26)
        header = self.table.horizontalHeader()
        header.setHighlightSections(False)
        for col, width in enumerate((200, 90, 200, 110)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Interactive)
            self.table.setColumnWidth(col, width)
        header.setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        self.status = QLabel()
        self.status.setObjectName("logsStatus")

        # A toggle must read as on/off at a glance, not only by a thin border.
        self.setStyleSheet(
            f"QToolButton#levelToggle {{ padding: 4px 12px; border: 1px solid {COLOURS.border};"
            f" border-radius: 4px; color: {COLOURS.text_dim}; }}"
            f"QToolButton#levelToggle:checked {{ background: {COLOURS.selection};"
            f" border-color: {COLOURS.info}; color: {COLOURS.text}; font-weight: bold; }}"
        )
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(bar)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)

        # Typing re-queries after a short pause, not on every key.
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(250)
        self._search_timer.timeout.connect(self.refresh)
        self.search.textChanged.connect(lambda _t: self._search_timer.start())
        find = QShortcut(
            QKeySequence(QKeySequence.StandardKey.Find),
            self,
            context=Qt.ShortcutContext.WidgetWithChildrenShortcut,
        )
        find.activated.connect(self._focus_search)
        self.timer = QTimer(self)
        self.timer.setInterval(refresh_ms)
        self.timer.timeout.connect(self.poll)
        self.refresh()
        self._follow_changed(self.follow.isChecked())

    # -- filters -----------------------------------------------------------------
    def levels(self) -> list[str]:
        return [lv for lv, b in self.level_buttons.items() if b.isChecked()]

    def kind(self) -> str | None:
        text = self.kind_combo.currentText()
        return None if text == ALL_KINDS or not text else text

    def set_filters(
        self,
        *,
        levels: Sequence[str] | None = None,
        kind: str | None = None,
        search: str | None = None,
    ) -> None:
        """Set filters from code (tests, "show errors" links); re-queries once."""
        widgets: list[Any] = [*self.level_buttons.values(), self.kind_combo, self.search]
        for w in widgets:
            w.blockSignals(True)
        try:
            if levels is not None:
                for lv, b in self.level_buttons.items():
                    b.setChecked(lv in levels)
            if kind is not None:
                self._add_kinds([kind])
                self.kind_combo.setCurrentText(kind or ALL_KINDS)
            if search is not None:
                self.search.setText(search)
        finally:
            for w in widgets:
                w.blockSignals(False)
        self.refresh()

    def _params(self) -> tuple[Any, ...]:
        kind = self.kind()
        return (
            tuple(self.levels()),
            kind,
            self.search.text().strip() or None,
        )

    def _fetch(self, params: tuple[Any, ...], since_ns: int | None = None) -> list[AuditEntry]:
        levels, kind, search = params
        if not levels:
            return []
        return self.journal.audit.entries(
            since_ns=since_ns,
            limit=self.model.limit,
            search=search,
            levels=list(levels),
            kinds=[kind] if kind else None,
        )

    # -- reading -----------------------------------------------------------------
    def refresh(self) -> None:
        """Re-run the query from scratch (filters changed)."""
        params = self._params()
        self._query = params
        try:
            entries = self._fetch(params)
        except (EdgeConsoleError, sqlite3.Error) as exc:
            self._read_failed(exc)
            return
        self.model.reset(entries)
        self._add_kinds(e.kind for e in entries)
        self._after_change()

    def poll(self) -> int:
        """Append entries newer than the last shown (follow mode timer). Returns how many."""
        params = self._params()
        if params != self._query:
            self.refresh()
            return self.model.rowCount()
        last = self.model.last_entry
        try:
            entries = self._fetch(params, since_ns=last.ts_ns if last else None)
        except (EdgeConsoleError, sqlite3.Error) as exc:
            self._read_failed(exc)
            return 0
        added = self.model.append(entries)
        if added:
            self._add_kinds(e.kind for e in entries)
            self._after_change()
        return added

    def _read_failed(self, exc: Exception) -> None:
        if isinstance(exc, sqlite3.ProgrammingError):
            # The session closed the journal (app shutting down): stop asking.
            self.timer.stop()
            self._say("The journal is closed.", error=True)
            return
        self._say(f"Cannot read the journal: {exc}", error=True)

    def _after_change(self) -> None:
        if self.follow.isChecked():
            self.table.scrollToBottom()
        n = self.model.rowCount()
        capped = " (newest only)" if n >= self.model.limit else ""
        self._say(f"{n} entries shown{capped}")

    def _add_kinds(self, kinds: Any) -> None:
        new = {k for k in kinds if k} - self._kinds
        if not new:
            return
        self._kinds |= new
        current = self.kind_combo.currentText()
        self.kind_combo.blockSignals(True)
        self.kind_combo.clear()
        self.kind_combo.addItem(ALL_KINDS)
        self.kind_combo.addItems(sorted(self._kinds))
        self.kind_combo.setCurrentText(current)
        self.kind_combo.blockSignals(False)

    def _focus_search(self) -> None:
        self.search.setFocus()
        self.search.selectAll()

    def _follow_changed(self, on: bool) -> None:
        if on:
            self.poll()
            self.timer.start()
        else:
            self.timer.stop()

    def _say(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(f"color: {COLOURS.fail if error else COLOURS.text_dim};")

    # -- export ------------------------------------------------------------------
    def selected_entries(self) -> list[AuditEntry]:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        return [self.model.entry(r) for r in rows]

    def export_csv(self, path: Path, entries: Sequence[AuditEntry] | None = None) -> int:
        """Write ``entries`` (default: the selection, else every shown row) to ``path``."""
        if entries is None:
            entries = self.selected_entries() or self.model.entries
        buf = io.StringIO()
        n = write_csv(
            buf,
            CSV_HEADER,
            (
                (
                    fmt_iso(e.ts_ns),
                    e.level,
                    e.target,
                    e.kind,
                    e.message,
                    json.dumps(e.fields, ensure_ascii=False, sort_keys=True) if e.fields else "",
                    e.site,
                    e.technician,
                )
                for e in entries
            ),
        )
        # utf-8-sig: spreadsheets then read accents and non-Latin names correctly.
        atomic_write(Path(path), buf.getvalue().encode("utf-8-sig"))
        return n

    def _export_clicked(self) -> None:
        selected = self.selected_entries()
        what = f"{len(selected)} selected" if selected else f"all {self.model.rowCount()} shown"
        path, _ = QFileDialog.getSaveFileName(
            self, f"Export {what} log rows", "edgeconsole-log.csv", "CSV files (*.csv)"
        )
        if not path:
            return
        try:
            n = self.export_csv(Path(path), selected or None)
        except OSError as exc:
            self._say(f"Could not write {path}: {exc.strerror or exc}", error=True)
            return
        self._say(f"Exported {n} rows to {path}")

    # -- lifecycle ---------------------------------------------------------------
    def hideEvent(self, event: Any) -> None:
        # A hidden view costs nothing: no timer, re-read on show.
        self.timer.stop()
        super().hideEvent(event)

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if self.follow.isChecked():
            self.poll()
            self.timer.start()
