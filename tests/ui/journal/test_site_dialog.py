from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtWidgets import QDialog, QDialogButtonBox
from pytestqt.qtbot import QtBot

from edgeconsole.journal.journal import Journal
from edgeconsole.journal.settings import SiteSettings
from edgeconsole.ui.journal.site_dialog import SiteDialog, validate


def test_first_run_asks_and_saves(qtbot: QtBot, journal: Journal) -> None:
    assert not journal.site().complete
    dlg = SiteDialog(journal)
    qtbot.addWidget(dlg)
    assert dlg.first_run and dlg.windowTitle() == "Welcome to EdgeConsole"
    assert dlg.buttons.button(QDialogButtonBox.StandardButton.Cancel).text() == "Later"
    dlg.site_edit.setText("  Plant 4,\tLine 2 ")
    dlg.technician_edit.setText("Ana Souza")
    dlg.buttons.button(QDialogButtonBox.StandardButton.Save).click()
    assert dlg.result() == QDialog.DialogCode.Accepted
    assert journal.site() == SiteSettings("Plant 4, Line 2", "Ana Souza")
    # On disk, and stamped on the journal (an audit entry says what changed).
    stored = json.loads(Path(journal.settings_store.path).read_text())
    assert stored == {"site": "Plant 4, Line 2", "technician": "Ana Souza"}
    entry = journal.audit.entries(kinds=["settings"])[-1]
    assert entry.fields["site"] == "Plant 4, Line 2" and entry.site == "Plant 4, Line 2"


def test_missing_names_are_explained_not_saved(qtbot: QtBot, journal: Journal) -> None:
    dlg = SiteDialog(journal)
    qtbot.addWidget(dlg)
    dlg.show()
    dlg.site_edit.setText("Plant 4")
    dlg.technician_edit.setText("   ")
    assert dlg.save() is False
    assert dlg.message.isVisible()
    assert "technician" in dlg.message.text()
    assert dlg.technician_edit.hasFocus() or not dlg.isActiveWindow()
    assert not journal.site().complete and dlg.result() != QDialog.DialogCode.Accepted
    dlg.site_edit.setText("")
    assert dlg.save() is False and "site and the technician names" in dlg.message.text()


def test_preferences_edits_existing_names(qtbot: QtBot, journal: Journal) -> None:
    journal.set_site(SiteSettings("Plant 4", "Ana"))
    dlg = SiteDialog(journal)
    qtbot.addWidget(dlg)
    assert not dlg.first_run and dlg.windowTitle() == "Site and technician"
    assert dlg.site_edit.text() == "Plant 4" and dlg.technician_edit.text() == "Ana"
    dlg.technician_edit.setText("Ben")
    assert dlg.save()
    assert journal.site() == SiteSettings("Plant 4", "Ben")


def test_save_failure_is_shown(qtbot: QtBot, journal: Journal, tmp_path: Path) -> None:
    # The settings file's folder is a file: the store cannot write there.
    blocker = tmp_path / "blocked"
    blocker.write_text("x")
    journal.settings_store.path = blocker / "site.json"
    dlg = SiteDialog(journal)
    qtbot.addWidget(dlg)
    dlg.site_edit.setText("Plant 4")
    dlg.technician_edit.setText("Ana")
    assert dlg.save() is False
    assert dlg.message.text().startswith("Could not save the names")


def test_validate_limits() -> None:
    assert validate("a", "b") is None
    assert "too long" in (validate("x" * 201, "b") or "")
