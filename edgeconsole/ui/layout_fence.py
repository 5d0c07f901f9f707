"""A box around a label whose text changes while running, so the change stays local.

A QLabel asks for a new layout on every ``setText``; Qt passes the request up, layout
by layout, to the main window, which lays out every dock and toolbar again (and
starts a geometry animation per dock): 5-8 times a second while a line runs, for the
summary under the latency table, the decision readout and the status bar's parts
count (issue 15, ``bench_ui_lag.py --events``). Most of those changes fit the room the
label already has. The fence holds one widget and passes the request on only when
the widget no longer fits its rectangle the way it did: a wrapped text that needs
more or fewer lines, a one-line text wider than its room. Otherwise the label is only
repainted. A one-line label keeps room it grew into until a real relayout (a resize)
sizes it again, so a counter does not make the bar jitter.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QSize
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QWidget


class LayoutFence(QWidget):
    def __init__(self, child: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.child = child
        child.setParent(self)
        self.setSizePolicy(child.sizePolicy())
        self.setObjectName(f"{child.objectName() or type(child).__name__}Fence")
        #: Requests passed on to the layout above, and kept here (tests).
        self.passed = 0
        self.kept = 0

    def sizeHint(self) -> QSize:
        return self.child.sizeHint()

    def minimumSizeHint(self) -> QSize:
        return self.child.minimumSizeHint()

    def hasHeightForWidth(self) -> bool:
        return self.child.hasHeightForWidth()

    def heightForWidth(self, width: int) -> int:
        return self.child.heightForWidth(width)

    def resizeEvent(self, event: QResizeEvent) -> None:
        self.child.setGeometry(self.rect())
        super().resizeEvent(event)

    def fits(self) -> bool:
        """Whether the child still fits its rectangle as it is laid out now."""
        c = self.child
        if c.hasHeightForWidth():
            return c.heightForWidth(self.width()) == self.height()
        hint = c.sizeHint()
        return hint.width() <= self.width() and hint.height() <= self.height()

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.LayoutRequest:
            if self.fits():
                self.kept += 1
            else:
                self.passed += 1
                self.updateGeometry()
            self.child.setGeometry(self.rect())
            return True
        return super().event(event)
