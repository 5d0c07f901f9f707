"""The window's tabs and the journal actions, on a real session with a real journal."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from mcap.reader import make_reader
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from edgeconsole.journal.journal import Journal
from edgeconsole.session.session import Session
from edgeconsole.ui.main_window import MainWindow

CONVEYOR = "synthetic:conveyor?seed=2&width=640&height=360"


@pytest.fixture
def journal_window(qtbot: QtBot, tmp_path: Path, settings: QSettings) -> Iterator[MainWindow]:
    session = Session(journal=Journal.open(tmp_path / "journal"))
    w = MainWindow(session, settings)  # type: ignore[arg-type]
    qtbot.addWidget(w)
    w.resize(1400, 900)
    w.show()
    yield w
    w.close()
    session.close()


def test_every_tab_builds_its_panel(qtbot: QtBot, journal_window: MainWindow) -> None:
    tabs = journal_window.workspaces
    titles = [tabs.tabText(i) for i in range(tabs.count())]
    assert titles == ["Live", "Bundles", "Commission", "Logs", "Fleet", "Replay", "PLC", "Camera"]
    for title in titles:
        panel = tabs.show_panel(title)
        assert type(panel).__name__ != "_Pending"
        shown = " ".join(lbl.text() for lbl in panel.findChildren(QLabel))
        assert "could not be opened" not in shown, shown
    assert type(tabs.panels["Bundles"]).__name__ == "BundlesPanel"
    assert type(tabs.panels["Logs"]).__name__ == "LogsView"
    assert type(tabs.panels["Replay"]).__name__ == "ReplayView"
    assert type(tabs.panels["Camera"]).__name__ == "CameraSetupPanel"
    assert type(tabs.panels["PLC"]).__name__ == "PlcPanel"


def test_logs_tab_without_journal_says_why(qtbot: QtBot, window: MainWindow) -> None:
    panel = window.workspaces.show_panel("Logs")
    texts = " ".join(lbl.text() for lbl in panel.findChildren(QLabel))
    assert "journal is not open" in texts


def test_record_button_records_the_live_run(
    qtbot: QtBot, journal_window: MainWindow, tmp_path: Path
) -> None:
    w = journal_window
    w.choose_source(CONVEYOR)
    w.start()
    qtbot.waitUntil(lambda: w.status.frames >= 1, timeout=60_000)
    w.record_action.trigger()
    qtbot.waitUntil(lambda: w.session.recording_path is not None, timeout=5_000)
    path = w.session.recording_path
    start = w.status.frames
    qtbot.waitUntil(lambda: w.status.frames >= start + 2, timeout=60_000)
    w.record_action.trigger()
    qtbot.waitUntil(lambda: w.session.recording_path is None, timeout=10_000)
    assert path is not None and path.exists()
    with path.open("rb") as fh:
        topics = {ch.topic for _, ch, _ in make_reader(fh).iter_messages()}
    assert topics  # frames, results and latency reached the file
    w.stop()


def test_tab_shortcuts(qtbot: QtBot, journal_window: MainWindow) -> None:
    texts = {a.text(): a for a in journal_window.actions()}
    texts["Show Fleet"].trigger()
    assert journal_window.workspaces.tabText(journal_window.workspaces.currentIndex()) == "Fleet"
    texts["Show Live"].trigger()
    assert journal_window.workspaces.currentIndex() == 0


def test_latency_dock_only_on_live(qtbot: QtBot, journal_window: MainWindow) -> None:
    w = journal_window
    assert w.latency_dock.isVisible()
    w.workspaces.show_panel("Fleet")
    assert not w.latency_dock.isVisible()
    w.workspaces.setCurrentIndex(0)
    assert w.latency_dock.isVisible()
