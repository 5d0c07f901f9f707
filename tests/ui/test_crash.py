"""Crash safety: an escaped exception is shown, journaled, and never loses a recording.

Real parts: a real Session with a real journal in the test's app-data folder, a
real MCAP recording, real Qt dispatch of exceptions (slots and worker threads)
offscreen. pytest-qt's own exception capture is off here, or it would take the
exceptions before our hook sees them.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcap.reader import make_reader
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from edgeconsole.journal.journal import Journal
from edgeconsole.session.session import Session
from edgeconsole.ui.crash import CrashHandler, install_crash_handler

pytestmark = pytest.mark.qt_no_exception_capture


class Boom(RuntimeError):
    pass


@pytest.fixture
def journaled_session(tmp_path: Path) -> Iterator[Session]:
    s = Session(journal=Journal.open(tmp_path / "journal"))
    yield s
    s.close()


@pytest.fixture
def parent(qtbot: Any) -> QWidget:
    w = QWidget()
    qtbot.addWidget(w)
    w.show()
    return w


@pytest.fixture
def handler(journaled_session: Session, parent: QWidget, tmp_path: Path) -> Iterator[CrashHandler]:
    h = install_crash_handler(journaled_session, lambda: parent, fault_log=tmp_path / "faults.log")
    yield h
    if h.dialog is not None:
        h.dialog.close()
    h.uninstall()


def crash_rows(db: Path) -> list[tuple[str, str, dict[str, Any]]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT level, message, fields FROM events WHERE kind = 'crash' ORDER BY id"
        ).fetchall()
    finally:
        conn.close()
    return [(lvl, msg, json.loads(f)) for lvl, msg, f in rows]


def assert_finished_mcap(path: Path) -> None:
    with path.open("rb") as f:
        summary = make_reader(f).get_summary()
    assert summary is not None, f"{path} has no summary: the recording was not finished"
    assert summary.statistics is not None


def raise_in_slot() -> None:
    raise Boom("paint went wrong")


def test_slot_exception_stops_recording_journals_and_shows_dialog(
    qtbot: Any, handler: CrashHandler, journaled_session: Session, tmp_path: Path
) -> None:
    rec = journaled_session.start_recording(tmp_path / "rec.mcap")
    QTimer.singleShot(0, raise_in_slot)
    qtbot.waitUntil(lambda: handler.dialog is not None and handler.dialog.isVisible(), timeout=5000)

    assert journaled_session.recording_path is None
    assert rec.is_file()
    assert_finished_mcap(rec)
    assert journaled_session.journal is not None
    assert [r[0] for r in journaled_session.journal.recordings()] == [str(rec)]

    report = handler.reports[-1]
    assert report.kind == "Boom" and report.where == "main thread"
    assert report.recording == rec and report.journaled
    rows = crash_rows(journaled_session.journal.audit.path)
    assert len(rows) == 1
    level, message, fields = rows[0]
    assert level == "error" and "Boom: paint went wrong" in message
    assert "raise_in_slot" in fields["traceback"] and fields["recording"] == str(rec)

    box = handler.dialog
    assert isinstance(box, QMessageBox)
    assert "paint went wrong" in box.text()
    assert str(rec) in box.informativeText()
    assert "raise_in_slot" in box.detailedText()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_worker_thread_exception_reaches_the_gui_thread(
    qtbot: Any, handler: CrashHandler, journaled_session: Session
) -> None:
    def work() -> None:
        raise Boom("decoder bug")

    t = threading.Thread(target=work, name="edgeconsole-capture")
    t.start()
    t.join(timeout=5)
    qtbot.waitUntil(lambda: handler.dialog is not None, timeout=5000)
    assert handler.reports[-1].where == "thread edgeconsole-capture"
    assert handler.dialog is not None
    assert handler.dialog.thread() is handler.dialog.parent().thread()  # built on the GUI thread
    assert journaled_session.journal is not None
    rows = crash_rows(journaled_session.journal.audit.path)
    assert rows[-1][2]["thread"] == "thread edgeconsole-capture"


def test_a_flood_of_errors_makes_one_dialog(qtbot: Any, handler: CrashHandler) -> None:
    for _ in range(5):
        QTimer.singleShot(0, raise_in_slot)
    qtbot.waitUntil(lambda: len(handler.reports) == 5, timeout=5000)
    assert handler.suppressed == 4
    assert handler.dialog is not None
    assert "4 more error(s)" in handler.dialog.informativeText()
    dialogs = [
        w
        for w in QApplication.topLevelWidgets() + _children_dialogs(handler)
        if w.objectName() == "crashDialog" and w.isVisible()
    ]
    assert len(set(map(id, dialogs))) == 1
    handler.dialog.close()
    qtbot.waitUntil(lambda: handler.dialog is None, timeout=2000)
    QTimer.singleShot(0, raise_in_slot)
    qtbot.waitUntil(lambda: handler.dialog is not None, timeout=5000)
    assert handler.suppressed == 0


def _children_dialogs(handler: CrashHandler) -> list[QWidget]:
    parent = handler.parent_widget_getter()
    return list(parent.findChildren(QMessageBox)) if parent is not None else []


class BrokenRecorderSession:
    """Unit test of the handler alone: a session whose recorder fails to stop."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.recording_path: Path | None = Path("/tmp/never.mcap")

    def stop_recording(self) -> Path | None:
        raise OSError(28, "No space left on device")


def test_recording_that_cannot_stop_is_reported_not_fatal(
    qtbot: Any, parent: QWidget, tmp_path: Path
) -> None:
    journal = Journal.open(tmp_path / "j")
    h = CrashHandler(BrokenRecorderSession(journal), lambda: parent).install()
    try:
        QTimer.singleShot(0, raise_in_slot)
        qtbot.waitUntil(lambda: h.dialog is not None, timeout=5000)
        report = h.reports[-1]
        assert report.recording is None
        assert "No space left" in report.recording_error
        assert h.dialog is not None
        assert "could not be stopped cleanly" in h.dialog.informativeText()
        assert crash_rows(journal.audit.path)[-1][2]["recording_error"].startswith("OSError")
        h.dialog.close()
    finally:
        h.uninstall()
        journal.close()


def test_without_journal_the_person_still_sees_it(qtbot: Any, parent: QWidget) -> None:
    s = Session()  # no journal
    h = CrashHandler(s, lambda: parent).install()
    try:
        QTimer.singleShot(0, raise_in_slot)
        qtbot.waitUntil(lambda: h.dialog is not None, timeout=5000)
        assert not h.reports[-1].journaled
        assert h.dialog is not None
        assert "could not be written to the journal" in h.dialog.informativeText()
        h.dialog.close()
    finally:
        h.uninstall()
        s.close()


def test_keyboard_interrupt_and_uninstall(handler: CrashHandler, tmp_path: Path) -> None:
    called: list[type[BaseException]] = []
    handler._prev_sys = lambda t, e, tb: called.append(t)
    sys.excepthook(KeyboardInterrupt, KeyboardInterrupt(), None)
    assert called == [KeyboardInterrupt] and handler.reports == []
    assert (tmp_path / "faults.log").exists()  # faulthandler has somewhere to write
    handler.uninstall()
    assert sys.excepthook is not handler._sys_hook
    assert threading.excepthook is not handler._thread_hook


def test_huge_traceback_is_shortened(handler: CrashHandler) -> None:
    exc = Boom("x" * 200_000)
    report = handler.handle(Boom, exc, None, "main thread")
    assert report is not None
    assert len(report.traceback) < 70_000 and "shortened" in report.traceback
    assert handler.dialog is not None
    handler.dialog.close()
