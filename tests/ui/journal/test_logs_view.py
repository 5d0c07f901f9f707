from __future__ import annotations

import csv
from pathlib import Path

from PySide6.QtCore import QItemSelectionModel, Qt
from pytestqt.qtbot import QtBot

from edgeconsole.journal.journal import Journal
from edgeconsole.journal.settings import SiteSettings
from edgeconsole.ui.journal.logs_view import COLUMNS, LogsView


def _fill(journal: Journal) -> None:
    journal.set_site(SiteSettings("Plant 4", "Ana"))
    journal.audit.log("connection", "info", "serial:///dev/ttyACM0", "connected", fw="1.2")
    journal.audit.log("flash", "info", "serial:///dev/ttyACM0", "upload started", bundle="li v3")
    journal.audit.log("flash", "error", "serial:///dev/ttyACM0", "upload failed: CRC mismatch")
    journal.audit.log("slot", "warning", "http://10.0.0.5:8000", "trial slot not confirmed")
    journal.audit.log("debug", "debug", "", "internal detail")
    # Hostile text: must stay text in a spreadsheet.
    journal.audit.log("connection", "error", "=cmd|' /C calc'!A0", '=HYPERLINK("x")')


def _rows(view: LogsView) -> list[list[str]]:
    m = view.model
    return [[m.data(m.index(r, c)) for c in range(len(COLUMNS))] for r in range(m.rowCount())]


def test_shows_entries_and_filters(qtbot: QtBot, journal: Journal) -> None:
    _fill(journal)
    view = LogsView(journal)
    qtbot.addWidget(view)
    view.show()
    rows = _rows(view)
    # debug is off by default; the settings change entry is included.
    messages = [r[4] for r in rows]
    assert "internal detail" not in messages
    assert "upload failed: CRC mismatch" in messages
    assert rows[0][0][:4].isdigit() and rows[-1][1] == "ERROR"

    view.set_filters(levels=["error"])
    assert {r[1] for r in _rows(view)} == {"ERROR"}
    assert len(_rows(view)) == 2

    view.set_filters(levels=["debug", "info", "warning", "error"], kind="flash")
    assert [r[4] for r in _rows(view)] == ["upload started", "upload failed: CRC mismatch"]

    view.set_filters(kind="", search="trial")
    assert [r[4] for r in _rows(view)] == ["trial slot not confirmed"]
    # The search box re-queries by itself after typing stops.
    view.search.setText("CRC")
    qtbot.waitUntil(lambda: [r[4] for r in _rows(view)] == ["upload failed: CRC mismatch"])
    # Kinds seen are offered in the kind filter.
    kinds = [view.kind_combo.itemText(i) for i in range(view.kind_combo.count())]
    assert {"connection", "flash", "slot", "settings"} <= set(kinds)


def test_follow_mode_appends_new_entries(qtbot: QtBot, journal: Journal) -> None:
    _fill(journal)
    view = LogsView(journal, refresh_ms=20)
    qtbot.addWidget(view)
    view.resize(900, 200)
    view.show()
    before = view.model.rowCount()
    for i in range(40):
        journal.audit.log("telemetry", "info", "sim://", f"reading {i}")
    qtbot.waitUntil(lambda: view.model.rowCount() == before + 40, timeout=3000)
    assert view.model.entry(view.model.rowCount() - 1).message == "reading 39"
    # Follow keeps the newest row in sight.
    bar = view.table.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.value() == bar.maximum())
    # Off: nothing new is read.
    view.follow.setChecked(False)
    journal.audit.log("telemetry", "info", "sim://", "late")
    assert not view.timer.isActive()
    assert view.model.entry(view.model.rowCount() - 1).message == "reading 39"


def test_model_keeps_only_the_newest(qtbot: QtBot, journal: Journal) -> None:
    for i in range(30):
        journal.audit.log("k", "info", "t", f"m{i}")
    view = LogsView(journal, limit=10)
    qtbot.addWidget(view)
    assert [e.message for e in view.model.entries] == [f"m{i}" for i in range(20, 30)]
    for i in range(30, 35):
        journal.audit.log("k", "info", "t", f"m{i}")
    assert view.poll() == 5
    assert [e.message for e in view.model.entries] == [f"m{i}" for i in range(25, 35)]


def test_export_selected_rows_to_safe_csv(qtbot: QtBot, journal: Journal, tmp_path: Path) -> None:
    _fill(journal)
    view = LogsView(journal)
    qtbot.addWidget(view)
    view.set_filters(levels=["info", "warning", "error"])
    rows = _rows(view)
    want = [i for i, r in enumerate(rows) if r[1] == "ERROR"]
    sel = view.table.selectionModel()
    for r in want:
        sel.select(
            view.model.index(r, 0),
            QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows,
        )
    out = tmp_path / "errors.csv"
    assert view.export_csv(out) == 2
    with open(out, encoding="utf-8-sig", newline="") as fh:
        data = list(csv.reader(fh))
    assert data[0] == ["time", "level", "target", "kind", "message", "fields", "site", "technician"]
    assert [d[4] for d in data[1:]] == ["upload failed: CRC mismatch", '\'=HYPERLINK("x")']
    assert data[2][2] == "'=cmd|' /C calc'!A0"  # formula-injection safe
    assert data[1][6:] == ["Plant 4", "Ana"]
    assert data[1][0][:4].isdigit() and "T" in data[1][0]  # ISO 8601
    # No selection: every shown row.
    sel.clearSelection()
    assert view.export_csv(tmp_path / "all.csv") == len(rows)


def test_tooltip_carries_fields(qtbot: QtBot, journal: Journal) -> None:
    journal.audit.log("flash", "info", "dev", "upload started", bundle="li v3")
    view = LogsView(journal)
    qtbot.addWidget(view)
    tip = view.model.data(view.model.index(0, 4), Qt.ItemDataRole.ToolTipRole)
    assert "bundle: li v3" in tip
