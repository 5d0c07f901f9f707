"""Widgets the device panels build the same way: a read-only table sized to its rows,
a combo box with its button, the flash progress box, a monospaced log."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)

SLOT_COLUMNS = ("Slot", "State", "Runs", "Bundle", "Version", "SHA-256", "Size")
BUTTON_HEIGHT = 32


def rows_table(columns: Sequence[str], object_name: str) -> QTableWidget:
    """A read-only table that shows every row: sized to its rows, no scroll bars (they
    would only hide the last one), no selection."""
    table = QTableWidget(0, len(columns))
    table.setObjectName(object_name)
    table.setHorizontalHeaderLabels(list(columns))
    table.verticalHeader().hide()
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
    table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setStretchLastSection(True)
    table.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Maximum)
    return table


def slots_table() -> QTableWidget:
    return rows_table(SLOT_COLUMNS, "slotsTable")


def combo_row(combo: QComboBox, button: QPushButton) -> QWidget:
    """A hidden row: the combo box stretches, the button keeps its size."""
    box = QWidget()
    row = QHBoxLayout(box)
    row.setContentsMargins(0, 0, 0, 0)
    button.setMinimumHeight(BUTTON_HEIGHT)
    row.addWidget(combo, 1)
    row.addWidget(button)
    box.hide()
    return box


def progress_box(bar: QProgressBar, cancel: QPushButton, text: QLabel) -> QFrame:
    """The hidden flash progress: bar (per mille) and Cancel, a line of text below."""
    box = QFrame()
    box.setObjectName("flashProgress")
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 4, 0, 4)
    bar.setRange(0, 1000)
    bar.setTextVisible(True)
    row = QHBoxLayout()
    row.addWidget(bar, 1)
    row.addWidget(cancel)
    text.setWordWrap(True)
    layout.addLayout(row)
    layout.addWidget(text)
    box.hide()
    return box


def log_view(object_name: str, placeholder: str, max_lines: int = 1000) -> QPlainTextEdit:
    log = QPlainTextEdit()
    log.setObjectName(object_name)
    log.setReadOnly(True)
    log.setMaximumBlockCount(max_lines)
    log.setPlaceholderText(placeholder)
    log.setFont(mono())
    return log


def mono() -> QFont:
    font = QFont("monospace")
    font.setStyleHint(QFont.StyleHint.Monospace)
    return font


def fit_to_rows(table: QTableWidget) -> None:
    """Make a ``rows_table`` exactly as tall as its header and rows."""
    h = table.horizontalHeader().height() + 4
    h += sum(table.rowHeight(r) for r in range(table.rowCount()))
    table.setFixedHeight(h)


def field_form(rows: Sequence[tuple[str, str]]) -> tuple[QFormLayout, dict[str, QLabel]]:
    """A form of selectable, wrapping values ("–" until shown), by key."""
    form = QFormLayout()
    form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
    form.setHorizontalSpacing(12)
    form.setVerticalSpacing(3)
    fields: dict[str, QLabel] = {}
    for key, label in rows:
        value = QLabel("–")
        value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        value.setWordWrap(True)
        fields[key] = value
        form.addRow(label + ":", value)
    return form, fields
