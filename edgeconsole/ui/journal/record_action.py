"""The record button: a checkable QAction (Ctrl+R) with a red dot, and a status label.

    rec = RecordAction(session, window)           # parent: the main window
    toolbar.addAction(rec)                        # and/or a File menu entry
    window.statusBar().addPermanentWidget(rec.status_label)

Starting calls ``session.start_recording()`` (a new file in the recordings folder,
or ``path_factory()``'s path); stopping calls ``session.stop_recording()``. A
refusal (disk full, folder not writable, file exists) goes to ``on_error`` when
given, else a message box, and the button goes back to "not recording".
While recording the label shows a red "● REC", the elapsed time and the file.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from PySide6.QtCore import QObject, QPointF, Qt, QTimer
from PySide6.QtGui import QAction, QColor, QIcon, QKeySequence, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QLabel, QMessageBox, QWidget

from edgeconsole.core.errors import EdgeConsoleError
from edgeconsole.ui.journal.common import fmt_clock
from edgeconsole.ui.theme import COLOURS

ErrorCallback = Callable[[str], None]


class Recorder(Protocol):
    """What the action needs from the session."""

    def start_recording(self, path: str | Path | None = None) -> Path: ...

    def stop_recording(self) -> Path | None: ...

    @property
    def recording_path(self) -> Path | None: ...


def dot_icon(filled: bool, size: int = 32) -> QIcon:
    """A red dot (recording) or a red ring (ready to record)."""
    pm = QPixmap(size, size)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    red = QColor(COLOURS.fail)
    p.setPen(QPen(red, size / 10))
    p.setBrush(red if filled else Qt.BrushStyle.NoBrush)
    r = size * 0.34
    p.drawEllipse(QPointF(size / 2, size / 2), r, r)
    p.end()
    return QIcon(pm)


class RecordAction(QAction):
    def __init__(
        self,
        session: Recorder,
        parent: QObject | None = None,
        *,
        on_error: ErrorCallback | None = None,
        path_factory: Callable[[], Path | None] = lambda: None,
        on_saved: Callable[[Path], None] | None = None,
    ) -> None:
        super().__init__(dot_icon(False), "Record", parent)
        self.session = session
        self.on_error = on_error
        self.on_saved = on_saved
        self.path_factory = path_factory
        self.setCheckable(True)
        self.setShortcut(QKeySequence("Ctrl+R"))
        self.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.setToolTip("Record frames, results, latency and events to an MCAP file (Ctrl+R)")
        self.status_label = QLabel()
        self.status_label.setObjectName("recordStatus")
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status_label.hide()
        self.last_error: str | None = None
        self.last_saved: Path | None = None
        self._started = 0.0
        self._timer = QTimer(self)
        self._timer.setInterval(500)
        self._timer.timeout.connect(self.update_status)
        self.triggered.connect(self._triggered)

    @property
    def recording(self) -> bool:
        return self.session.recording_path is not None

    def start(self) -> Path | None:
        if self.recording:
            return self.session.recording_path
        try:
            path = self.session.start_recording(self.path_factory())
        except (EdgeConsoleError, OSError) as exc:
            self._fail(f"Cannot start recording: {exc}")
            return None
        self._started = time.monotonic()
        self.last_error = None
        self._timer.start()
        self._sync()
        return path

    def stop(self) -> Path | None:
        if not self.recording:
            self._sync()
            return None
        try:
            path = self.session.stop_recording()
        except (EdgeConsoleError, OSError) as exc:
            self._fail(f"Recording stopped with an error: {exc}")
            return None
        self.last_saved = path
        self._sync()
        if path is not None:
            self.status_label.setText(f"Saved {path}")
            self.status_label.setStyleSheet(f"color: {COLOURS.text_dim};")
            self.status_label.show()
            if self.on_saved is not None:
                self.on_saved(path)
        return path

    def _triggered(self, checked: bool) -> None:
        if checked:
            self.start()
        else:
            self.stop()

    def _fail(self, text: str) -> None:
        self.last_error = text
        self._sync()
        self.status_label.setText(text)
        self.status_label.setStyleSheet(f"color: {COLOURS.fail}; font-weight: bold;")
        self.status_label.show()
        if self.on_error is not None:
            self.on_error(text)
        else:
            parent = self.parent()
            QMessageBox.warning(parent if isinstance(parent, QWidget) else None, "Recording", text)

    def _sync(self) -> None:
        on = self.recording
        self.blockSignals(True)
        self.setChecked(on)
        self.blockSignals(False)
        self.setIcon(dot_icon(on))
        self.setText("Stop recording" if on else "Record")
        if not on:
            self._timer.stop()
        else:
            self.update_status()

    def update_status(self) -> None:
        path = self.session.recording_path
        if path is None:
            self._sync()
            return
        elapsed = fmt_clock(time.monotonic() - self._started)
        self.status_label.setText(f"● REC {elapsed}  {path}")
        self.status_label.setStyleSheet(f"color: {COLOURS.fail}; font-weight: bold;")
        self.status_label.setToolTip(str(path))
        self.status_label.show()
