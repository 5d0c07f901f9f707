from __future__ import annotations

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from edgeconsole.journal.fleet import SlotRecord
from edgeconsole.journal.journal import Journal
from edgeconsole.ui.journal.fleet_view import INCONSISTENT_BG, FleetView


def _seed(journal: Journal) -> None:
    f = journal.fleet
    f.seen(
        "gw-line1",
        hardware_id="jetson-orin-nano",
        kind="gateway",
        firmware="agent 1.4.2",
        slots=[
            SlotRecord("a", "CONFIRMED", "label-inspector", 3, "ab" * 32),
            SlotRecord("b", "INACTIVE", "label-inspector", 2, "cd" * 32),
        ],
    )
    f.seen(
        "gw-line2",
        hardware_id="jetson-orin-nano",
        kind="gateway",
        firmware="agent 1.4.2",
        slots=[SlotRecord("a", "CONFIRMED", "label-inspector", 2, "cd" * 32)],
    )
    f.seen(
        "mcu-07",
        hardware_id="nrf5340",
        kind="serial",
        firmware="2.1.0",
        slots=[SlotRecord("0", "CONFIRMED", "digits", 1, "ef" * 32)],
    )
    f.seen("cam-laptop", kind="local")


def test_lists_targets_per_slot_and_flags_inconsistency(qtbot: QtBot, journal: Journal) -> None:
    _seed(journal)
    view = FleetView(journal)
    qtbot.addWidget(view)
    view.show()
    m = view.model
    texts = [[m.text(r, c) for c in range(m.columnCount())] for r in range(m.rowCount())]
    # One row per slot, target columns on the first row of each target.
    by_target = [t for t in texts if t[0]]
    assert {t[0] for t in by_target} == {"gw-line1", "gw-line2", "mcu-07", "cam-laptop"}
    gw1 = texts.index(next(t for t in texts if t[0] == "gw-line1"))
    assert texts[gw1][2:9] == [
        "jetson-orin-nano",
        "agent 1.4.2",
        "a",
        "CONFIRMED",
        "label-inspector",
        "v3",
        "ab" * 6,
    ]
    assert texts[gw1 + 1][0] == "" and texts[gw1 + 1][4:8] == [
        "b",
        "INACTIVE",
        "label-inspector",
        "v2",
    ]
    assert texts[gw1][9] == "just now"
    laptop = next(t for t in texts if t[0] == "cam-laptop")
    assert laptop[4] == "no slots reported"
    # Highlight: both Jetsons (all their rows), not the MCU.
    for r, row in enumerate(m.rows):
        bg = m.data(m.index(r, 0), Qt.ItemDataRole.BackgroundRole)
        assert (bg == INCONSISTENT_BG) == (row.target.hardware_id == "jetson-orin-nano")
    # Full hash in the tooltip.
    assert m.data(m.index(gw1, 8), Qt.ItemDataRole.ToolTipRole) == "sha256 " + "ab" * 32
    # The banner says it in plain words.
    assert view.banner.isVisible()
    text = view.banner_label.text()
    assert "jetson-orin-nano" in text and "gw-line1" in text and "label-inspector v3" in text
    assert "label-inspector v2" in text and "flash" in text
    assert "4 targets seen" in view.summary.text() and "1 inconsistent" in view.summary.text()


def test_consistent_fleet_has_no_banner_and_refresh_picks_up_changes(
    qtbot: QtBot, journal: Journal
) -> None:
    view = FleetView(journal)
    qtbot.addWidget(view)
    view.show()
    assert view.model.rowCount() == 0 and "No targets seen yet" in view.summary.text()
    _seed(journal)
    # Bring gw-line2 up to v3: the fleet becomes consistent.
    journal.fleet.seen(
        "gw-line2", slots=[SlotRecord("a", "CONFIRMED", "label-inspector", 3, "ab" * 32)]
    )
    view.refresh()
    assert view.model.rowCount() == 5
    assert not view.banner.isVisible() and "all consistent" in view.summary.text()
    assert not any(r.inconsistent for r in view.model.rows)
