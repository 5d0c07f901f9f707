from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMainWindow
from pytestqt.qtbot import QtBot

from edgeconsole.journal.journal import Journal
from edgeconsole.journal.replay import RecordingReader
from edgeconsole.session.session import Session
from edgeconsole.ui.journal.record_action import RecordAction


@pytest.fixture
def session(journal: Journal) -> Iterator[Session]:
    s = Session(journal=journal)
    yield s
    s.stop_recording()
    s.journal = None  # the journal fixture closes it


def test_record_start_stop_writes_a_readable_recording(
    qtbot: QtBot, session: Session, journal: Journal, tmp_path: Path
) -> None:
    win = QMainWindow()
    qtbot.addWidget(win)
    target = tmp_path / "site-visit.mcap"
    errors: list[str] = []
    saved: list[Path] = []
    rec = RecordAction(
        session, win, on_error=errors.append, path_factory=lambda: target, on_saved=saved.append
    )
    win.addAction(rec)
    win.statusBar().addPermanentWidget(rec.status_label)
    win.show()
    assert rec.shortcut().toString() == "Ctrl+R" and rec.isCheckable()
    assert rec.text() == "Record" and not rec.isChecked()

    rec.trigger()
    assert rec.isChecked() and rec.recording and session.recording_path == target
    assert rec.text() == "Stop recording"
    status = rec.status_label.text()
    assert status.startswith("● REC 0:0") and str(target) in status
    assert rec.status_label.isVisible()
    rec.trigger()
    assert not rec.isChecked() and not rec.recording and errors == []
    assert saved == [target] and rec.status_label.text() == f"Saved {target}"
    with RecordingReader(target) as reader:
        assert reader.info.problem is None
        texts = [i.data["text"] for i in reader.items(topics=("/events",)) if i.data]
    assert any(t == f"recording to {target}" for t in texts)  # the session's own event
    assert [Path(r[0]) for r in journal.recordings()] == [target]


def test_refusal_is_reported_and_button_stays_off(
    qtbot: QtBot, session: Session, tmp_path: Path
) -> None:
    taken = tmp_path / "taken.mcap"
    taken.write_bytes(b"someone else's file")
    errors: list[str] = []
    rec = RecordAction(session, None, on_error=errors.append, path_factory=lambda: taken)
    rec.trigger()
    assert not rec.isChecked() and not rec.recording
    assert len(errors) == 1 and "Cannot start recording" in errors[0]
    assert "already exists" in errors[0]
    assert rec.status_label.text() == errors[0]
    assert taken.read_bytes() == b"someone else's file"  # never overwritten
