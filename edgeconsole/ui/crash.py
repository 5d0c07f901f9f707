"""What happens when a bug escapes: the person is told, the journal keeps it, no recording is lost.

``install_crash_handler(session, parent_widget_getter)`` replaces
``sys.excepthook`` (exceptions escaping Qt slots and virtual methods land there
under PySide6) and ``threading.excepthook`` (worker threads). For each
unexpected exception, in this order, because each step may be the last one
that works:

1. a recording in progress is stopped through ``session.stop_recording()``,
   which finishes the MCAP file and indexes it in the journal;
2. the exception and its traceback go to the audit journal (``kind="crash"``);
3. the traceback goes to stderr (the previous hook);
4. a dialog shows the person what happened, where the recording was saved and
   where the report is. Worker threads hand the dialog to the GUI thread
   through a queued signal. While one dialog is open, further errors are
   counted into it instead of stacking up dialogs (a paint bug fires every frame).

``faulthandler`` writes the Python stacks of a hard crash (segfault, abort) to
``<app data>/crash-faults.log``, which nothing else can catch.
"""

from __future__ import annotations

import faulthandler
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Protocol

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

if TYPE_CHECKING:
    from edgeconsole.session.api import Journal

#: Largest traceback stored in one journal entry; a recursion error can be huge.
MAX_TRACEBACK_CHARS = 64_000
FAULT_LOG = "crash-faults.log"


class CrashSession(Protocol):
    """What the handler needs from the session (``edgeconsole.session.session.Session``)."""

    @property
    def journal(self) -> Journal | None: ...

    @property
    def recording_path(self) -> Path | None: ...

    def stop_recording(self) -> Path | None: ...


@dataclass(frozen=True)
class CrashReport:
    kind: str  # exception class name
    message: str
    where: str  # "main thread" or "thread <name>"
    traceback: str
    recording: Path | None  # the recording that was stopped and saved, if any
    recording_error: str  # why stopping it failed, if it did
    journaled: bool

    def summary(self) -> str:
        return f"{self.kind}: {self.message}" if self.message else self.kind


class _Bridge(QObject):
    """Lives in the GUI thread; a signal emitted from any thread runs ``show`` there."""

    report = Signal(object)

    def __init__(self, show: Callable[[CrashReport], None]) -> None:
        super().__init__()
        self._show = show
        self.report.connect(self._on_report, Qt.ConnectionType.QueuedConnection)

    @Slot(object)
    def _on_report(self, report: CrashReport) -> None:
        self._show(report)


class CrashHandler:
    def __init__(
        self,
        session: CrashSession,
        parent_widget_getter: Callable[[], QWidget | None],
        *,
        fault_log: Path | None = None,
    ) -> None:
        self.session = session
        self.parent_widget_getter = parent_widget_getter
        self.reports: list[CrashReport] = []
        self.dialog: QMessageBox | None = None
        self.suppressed = 0  # errors that arrived while the dialog was open
        self._lock = threading.Lock()
        self._handling = threading.local()
        self._prev_sys = sys.excepthook
        self._prev_thread = threading.excepthook
        self._bridge = _Bridge(self._show)
        self._fault_file: IO[str] | None = None
        self._fault_log = fault_log
        self._installed = False

    # ------------------------------------------------------------- install
    def install(self) -> CrashHandler:
        sys.excepthook = self._sys_hook
        threading.excepthook = self._thread_hook
        if self._fault_log is not None:
            try:
                self._fault_log.parent.mkdir(parents=True, exist_ok=True)
                self._fault_file = open(self._fault_log, "a", encoding="utf-8")  # noqa: SIM115
                faulthandler.enable(self._fault_file, all_threads=True)
            except OSError:
                self._fault_file = None  # no place for it: the app still runs
        self._installed = True
        return self

    def uninstall(self) -> None:
        if not self._installed:
            return
        if sys.excepthook == self._sys_hook:
            sys.excepthook = self._prev_sys
        if threading.excepthook == self._thread_hook:
            threading.excepthook = self._prev_thread
        if self._fault_file is not None:
            faulthandler.disable()
            self._fault_file.close()
            self._fault_file = None
        self._installed = False

    # --------------------------------------------------------------- hooks
    def _sys_hook(
        self,
        exc_type: type[BaseException],
        exc: BaseException,
        tb: TracebackType | None,
    ) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            self._prev_sys(exc_type, exc, tb)
            return
        self.handle(exc_type, exc, tb, "main thread")
        self._prev_sys(exc_type, exc, tb)

    def _thread_hook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread is not None else "?"
        if args.exc_value is not None:
            self.handle(args.exc_type, args.exc_value, args.exc_traceback, f"thread {name}")
        self._prev_thread(args)

    # ------------------------------------------------------------- handling
    def handle(
        self,
        exc_type: type[BaseException],
        exc: BaseException,
        tb: TracebackType | None,
        where: str,
    ) -> CrashReport | None:
        """Save, journal and show one exception; safe from any thread, never raises."""
        if getattr(self._handling, "active", False):
            return None  # an error inside the handler itself: leave it to the previous hook
        self._handling.active = True
        try:
            return self._handle(exc_type, exc, tb, where)
        except Exception:
            return None
        finally:
            self._handling.active = False

    def _handle(
        self,
        exc_type: type[BaseException],
        exc: BaseException,
        tb: TracebackType | None,
        where: str,
    ) -> CrashReport:
        text = "".join(traceback.format_exception(exc_type, exc, tb))
        if len(text) > MAX_TRACEBACK_CHARS:
            half = MAX_TRACEBACK_CHARS // 2
            text = text[:half] + "\n[... traceback shortened ...]\n" + text[-half:]
        recording, rec_error = self._save_recording()
        message = str(exc)
        journaled = self._journal(exc_type.__name__, message, where, text, recording, rec_error)
        report = CrashReport(
            exc_type.__name__, message, where, text, recording, rec_error, journaled
        )
        with self._lock:
            self.reports.append(report)
        app = QApplication.instance()
        if app is not None:
            if threading.current_thread() is threading.main_thread():
                self._show(report)
            else:
                self._bridge.report.emit(report)
        return report

    def _save_recording(self) -> tuple[Path | None, str]:
        try:
            if self.session.recording_path is None:
                return None, ""
            return self.session.stop_recording(), ""
        except Exception as exc:  # the recorder may be what broke
            return None, f"{type(exc).__name__}: {exc}"

    def _journal(
        self,
        kind: str,
        message: str,
        where: str,
        text: str,
        recording: Path | None,
        rec_error: str,
    ) -> bool:
        journal = self.session.journal
        if journal is None:
            return False
        try:
            return bool(
                journal.audit.log(
                    "crash",
                    "error",
                    "",
                    f"unexpected error in {where}: {kind}: {message}"[:2000],
                    exception=kind,
                    thread=where,
                    traceback=text,
                    recording=str(recording) if recording else None,
                    recording_error=rec_error or None,
                )
            )
        except Exception:
            return False

    # ----------------------------------------------------------------- dialog
    def _show(self, report: CrashReport) -> None:
        if self.dialog is not None and self.dialog.isVisible():
            self.suppressed += 1
            self.dialog.setInformativeText(
                self._informative(report) + f"\n\n{self.suppressed} more error(s) since this one."
            )
            return
        self.suppressed = 0
        try:
            parent = self.parent_widget_getter()
        except Exception:
            parent = None
        box = QMessageBox(parent)
        box.setObjectName("crashDialog")
        box.setIcon(QMessageBox.Icon.Critical)
        box.setWindowTitle("EdgeConsole: unexpected error")
        box.setText(
            f"<b>Something went wrong inside EdgeConsole</b> ({report.where}).<br>"
            f"{_html(report.summary())}"
        )
        box.setInformativeText(self._informative(report))
        box.setDetailedText(report.traceback)
        box.setStandardButtons(QMessageBox.StandardButton.Ok)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(self._dialog_closed)
        self.dialog = box
        box.open()  # not exec(): the window keeps polling, recordings keep their data

    def _informative(self, report: CrashReport) -> str:
        lines = []
        if report.recording is not None:
            lines.append(f"The recording in progress was stopped and saved:\n{report.recording}")
        elif report.recording_error:
            lines.append(f"The recording could not be stopped cleanly: {report.recording_error}")
        if report.journaled:
            lines.append("The error is in the journal (Logs), with its details.")
        else:
            lines.append("The error could not be written to the journal; copy the details below.")
        lines.append(
            "You can keep working. If this happens again, export the logs and send them "
            "to your support contact."
        )
        return "\n\n".join(lines)

    def _dialog_closed(self, _result: int) -> None:
        self.dialog = None


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")[:500]


def install_crash_handler(
    session: CrashSession,
    parent_widget_getter: Callable[[], QWidget | None],
    *,
    fault_log: Path | bool | None = True,
) -> CrashHandler:
    """Install the hooks; call once in ``app.main`` after the QApplication exists.

    ``fault_log``: True -> ``<app data>/crash-faults.log``; a path; or False/None for none.
    Keep the returned handler referenced (and ``uninstall()`` it on exit).
    """
    path: Path | None
    if fault_log is True:
        from edgeconsole.session.evidence import app_data_dir

        path = app_data_dir() / FAULT_LOG
    elif isinstance(fault_log, Path):
        path = fault_log
    else:
        path = None
    return CrashHandler(session, parent_widget_getter, fault_log=path).install()
