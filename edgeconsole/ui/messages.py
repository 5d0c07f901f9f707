"""Where events reach a person: a message bar, a busy bar and the event log.

The message bar shows the newest warning or error in plain sight above the live
view until dismissed (never a modal box that blocks the floor). The log keeps
every event, bounded, newest at the bottom.
"""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QWidget,
)

from edgeconsole.session.update import Event
from edgeconsole.ui.theme import COLOURS

_LEVEL_COLOURS = {"error": COLOURS.fail, "warning": COLOURS.warn, "info": COLOURS.text}
_LEVEL_MARK = {"error": "✖", "warning": "⚠", "info": "ℹ"}


class MessageBar(QFrame):
    """The newest warning or error, visible until dismissed or superseded."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("messageBar")
        self.setProperty("level", "info")
        self.setAccessibleName("Message bar")
        self.icon = QLabel()
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.dismiss_button = QPushButton("Dismiss")
        self.dismiss_button.setToolTip("Hide this message (it stays in the event log)")
        self.dismiss_button.clicked.connect(self.dismiss)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 8, 8, 8)
        layout.addWidget(self.icon)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.dismiss_button)
        self._repeats = 0
        self._last = ""
        self.hide()

    @property
    def level(self) -> str:
        return str(self.property("level"))

    def show_message(self, level: str, text: str) -> None:
        # A source that fails every second must not turn into a flickering bar.
        if self.isVisibleTo(self.parentWidget() or self) and text == self._last:
            self._repeats += 1
            shown = f"{text}  (×{self._repeats + 1})"
        else:
            self._repeats = 0
            shown = text
        self._last = text
        self.icon.setText(_LEVEL_MARK.get(level, ""))
        self.text.setText(shown)
        if self.property("level") != level:
            self.setProperty("level", level)
            # Re-polish so the [level=...] style rule applies.
            self.style().unpolish(self)
            self.style().polish(self)
        self.show()

    def is_showing(self, text: str) -> bool:
        return self.isVisibleTo(self.parentWidget() or self) and self._last == text

    def show_event(self, event: Event) -> None:
        self.show_message(event.level, event.text)

    def dismiss(self) -> None:
        self._last = ""
        self._repeats = 0
        self.hide()


class BusyBar(QFrame):
    """Shown while a source or model is opening: progress you can cancel."""

    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("busyBar")
        self.setAccessibleName("Busy indicator")
        self.label = QLabel("Opening…")
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)  # indeterminate: we cannot know how long a camera takes
        self.progress.setTextVisible(False)
        self.progress.setFixedWidth(180)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop opening the source / loading the model (Esc)")
        self.cancel_button.clicked.connect(self.cancel_requested)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 6, 8, 6)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.progress)
        layout.addWidget(self.cancel_button)
        self.hide()

    def start(self, text: str) -> None:
        self.label.setText(text)
        self.show()

    def finish(self) -> None:
        self.hide()


class EventLog(QListWidget):
    """Every event, newest last, bounded so a day-long run stays light."""

    def __init__(self, max_items: int = 2000, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Event log")
        self.max_items = max_items
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setUniformItemSizes(True)
        self.setWordWrap(False)
        # Long messages are elided; the tooltip and the message bar show them whole.
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

    def add_event(self, event: Event) -> None:
        stamp = (
            event.wall_time[11:19]
            if len(event.wall_time) >= 19
            else (datetime.now().strftime("%H:%M:%S"))
        )
        text = f"{stamp}  {_LEVEL_MARK.get(event.level, ' ')}  [{event.kind}] {event.text}"
        item = QListWidgetItem(text)
        item.setForeground(QColor(_LEVEL_COLOURS.get(event.level, COLOURS.text)))
        item.setToolTip(event.text)
        item.setData(Qt.ItemDataRole.UserRole, event.level)
        at_bottom = self.verticalScrollBar().value() >= self.verticalScrollBar().maximum() - 2
        self.addItem(item)
        overflow = self.count() - self.max_items
        for _ in range(max(0, overflow)):
            self.takeItem(0)
        if at_bottom:
            self.scrollToBottom()

    def texts(self) -> list[str]:
        return [self.item(i).text() for i in range(self.count())]
