"""Plot widgets built after the window's first paint, a placeholder until then.

Importing pyqtgraph and building its plots takes a few hundred milliseconds; a
panel that did it in its constructor kept the whole main window off the screen
that long. A panel instead lays out :meth:`DeferredPlots.slot` placeholders and
hands over its build function. The build runs on the event loop's turn after a
placeholder was first painted (the window is on the screen by then), or at once
on :meth:`DeferredPlots.build` (tests, a caller that needs the plots now). A
panel whose placeholder is never painted (a dock tab behind another) builds when
it is first seen.

The panel keeps its data in plain numpy/Python state meanwhile, and its build
function draws that state into the new plots: nothing added before is lost.
pyqtgraph is imported by that build function only, never by this module.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtWidgets import QLabel, QStackedWidget, QWidget

from edgeconsole.ui.theme import COLOURS

PLACEHOLDER_TEXT = "Loading charts…"


class DeferredPlots(QObject):
    """Places for a panel's plot widgets; ``build`` returns them, one per slot in order."""

    def __init__(
        self,
        build: Callable[[], Sequence[QWidget]],
        parent: QObject,
        text: str = PLACEHOLDER_TEXT,
    ) -> None:
        super().__init__(parent)
        self._build = build
        self._text = text
        self._slots: list[tuple[QStackedWidget, QLabel]] = []
        self._scheduled = False
        self.built = False

    def slot(self) -> QStackedWidget:
        """Where one plot widget goes in the panel's layout: the placeholder until built."""
        slot = QStackedWidget()
        label = QLabel(self._text)
        label.setObjectName("plotPlaceholder")
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        # The plots' own background, so the panel does not change colour when they come.
        label.setStyleSheet(f"color: {COLOURS.text_dim}; background-color: {COLOURS.panel};")
        label.installEventFilter(self)
        slot.addWidget(label)
        self._slots.append((slot, label))
        return slot

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint and not self._scheduled and not self.built:
            self._scheduled = True
            # Queued, not now: this paint and the rest of the window's finish first.
            # The timer dies with this object if the panel goes before it fires.
            QTimer.singleShot(0, self, self.build)
        return False

    def build(self) -> None:
        """Build the plots now (once; later calls do nothing)."""
        if self.built:
            return
        widgets = self._build()
        for (slot, placeholder), widget in zip(self._slots, widgets, strict=True):
            slot.addWidget(widget)
            slot.setCurrentWidget(widget)
            slot.removeWidget(placeholder)
            placeholder.deleteLater()
        self._slots.clear()
        self.built = True
