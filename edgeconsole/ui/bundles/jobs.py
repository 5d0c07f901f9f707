"""Long bundle work off the UI thread: one job at a time, with progress and Cancel.

The work is a plain function from ``session.workshop`` taking
``(progress, cancel)``; it runs on a Python thread and reports back through Qt
signals, which Qt queues onto the UI thread. The widget never blocks.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from edgeconsole.core.errors import Cancelled, EdgeConsoleError

Work = Callable[[Callable[[float, str], None], Callable[[], bool]], Any]
#: Progress signals at most this often: a verifier reports every MiB.
PROGRESS_INTERVAL_S = 0.05


def plain_error(exc: BaseException) -> str:
    if isinstance(exc, EdgeConsoleError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "out of memory: close other programs or use a smaller model"
    if isinstance(exc, OSError):
        return f"{exc.filename or 'file'}: {exc.strerror or exc}"
    first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    return f"unexpected {type(exc).__name__}: {first}".rstrip(": ")


class JobRunner(QObject):
    progressed = Signal(float, str)
    succeeded = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    finished = Signal()  # after exactly one of the three above

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: threading.Thread | None = None
        # Cleared by the worker before it emits ``finished``: the thread itself is still
        # alive for a moment after, and a handler of ``finished`` must see "not running".
        self._active = False
        self._cancel = threading.Event()
        self._last_progress = 0.0
        self.name = ""

    @property
    def running(self) -> bool:
        return self._active

    def start(self, name: str, work: Work) -> bool:
        if self.running:
            return False
        self.name = name
        self._cancel = threading.Event()
        cancel = self._cancel
        self._active = True
        self._thread = threading.Thread(
            target=self._run, args=(work, cancel), name=f"bundles-{name}", daemon=True
        )
        self._thread.start()
        return True

    def cancel(self) -> None:
        self._cancel.set()

    def wait(self, timeout: float = 30.0) -> bool:
        t = self._thread
        if t is not None:
            t.join(timeout)
        return t is None or not t.is_alive()

    def _progress(self, fraction: float, text: str) -> None:
        now = time.monotonic()
        if fraction < 1.0 and now - self._last_progress < PROGRESS_INTERVAL_S:
            return
        self._last_progress = now
        self.progressed.emit(float(fraction), text)

    def _run(self, work: Work, cancel: threading.Event) -> None:
        try:
            result = work(self._progress, cancel.is_set)
        except Cancelled:
            self.cancelled.emit()
        except Exception as exc:  # every failure reaches the person, in words
            if cancel.is_set():
                self.cancelled.emit()
            else:
                self.failed.emit(plain_error(exc))
        else:
            # Finished before it saw the Cancel: the work is done (a file may have
            # been written), so say so rather than claim it was stopped.
            self.succeeded.emit(result)
        self._active = False
        self.finished.emit()


class ProgressStrip(QWidget):
    """What is running, how far along, and a Cancel button; hidden when idle."""

    def __init__(self, runner: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self.label = QLabel()
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(False)
        self.bar.setMinimumWidth(160)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop this work (takes effect at the next safe point)")
        self.cancel_button.clicked.connect(self._cancel)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.label, 1)
        lay.addWidget(self.bar, 1)
        lay.addWidget(self.cancel_button)
        runner.progressed.connect(self._on_progress)
        runner.finished.connect(self.hide)
        self.hide()

    def begin(self, text: str) -> None:
        self.label.setText(text)
        self.bar.setValue(0)
        self.cancel_button.setEnabled(True)
        self.cancel_button.setText("Cancel")
        self.show()

    def _on_progress(self, fraction: float, text: str) -> None:
        self.bar.setValue(int(1000 * max(0.0, min(1.0, fraction))))
        self.label.setText(f"{self.runner.name}: {text}")

    def _cancel(self) -> None:
        self.runner.cancel()
        self.cancel_button.setEnabled(False)
        self.cancel_button.setText("Cancelling…")
