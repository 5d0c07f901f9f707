"""Long work off the UI thread, on the session's job runner, with progress and Cancel.

The work is a job or a plain function ``(progress, cancel)`` from the session
(``session.workshop``, the journal's export, commissioning, gateway discovery); the
session's :class:`~edgeconsole.session.jobs.JobRunner` runs it on its own thread and
this adapter turns its callbacks into Qt signals, which Qt queues onto the UI thread.
One job at a time per adapter; the widget never blocks and never starts a thread.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from edgeconsole.core.errors import EdgeConsoleError
from edgeconsole.session.jobs import JobOutcome, RunningJob, Work, shared_runner
from edgeconsole.session.jobs import JobRunner as SessionJobs

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
    """One widget's job at a time, run by the session's job runner (``jobs``; the
    process's shared runner for a widget built without a session)."""

    progressed = Signal(float, str)
    succeeded = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    finished = Signal()  # after exactly one of the three above

    def __init__(self, parent: QObject | None = None, jobs: SessionJobs | None = None) -> None:
        super().__init__(parent)
        self.jobs = jobs if jobs is not None else shared_runner()
        self._job: RunningJob | None = None
        # Cleared on the job's thread before it emits ``finished``: a handler of
        # ``finished`` must see "not running".
        self._active = False
        self._last_progress = 0.0
        self.name = ""

    @property
    def running(self) -> bool:
        return self._active

    def start(self, name: str, work: Work) -> bool:
        if self.running:
            return False
        self.name = name
        self._active = True
        self._job = self.jobs.start(name, work, on_progress=self._progress, on_done=self._done)
        return True

    def cancel(self) -> None:
        if self._job is not None:
            self._job.cancel()

    def wait(self, timeout: float = 30.0) -> bool:
        job = self._job
        return job is None or job.wait(timeout)

    def _progress(self, fraction: float, text: str) -> None:
        now = time.monotonic()
        if fraction < 1.0 and now - self._last_progress < PROGRESS_INTERVAL_S:
            return
        self._last_progress = now
        self.progressed.emit(float(fraction), text)

    def _done(self, outcome: JobOutcome) -> None:
        if outcome.cancelled:
            self.cancelled.emit()
        elif outcome.error is not None:
            self.failed.emit(plain_error(outcome.error))
        else:
            self.succeeded.emit(outcome.result)
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
