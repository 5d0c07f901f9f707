from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from pytestqt.qtbot import QtBot

from edgeconsole.journal.journal import Journal
from edgeconsole.journal.settings import SiteSettings
from edgeconsole.journal.timebase import wall_ns
from edgeconsole.journal.verify import verify_pack
from edgeconsole.ui.journal.export_dialog import ExportDialog
from tests.fixtures.journal import latency_for, result_for


def _fill(journal: Journal, recording: Path) -> None:
    journal.set_site(SiteSettings("Plant 4", "Ana"))
    journal.audit.log("connection", "info", "local://", "connected")
    journal.audit.log("flash", "error", "serial:///dev/ttyACM0", "=upload failed")
    for i in range(200):
        journal.telemetry.add_result("local://", result_for(i))
        journal.telemetry.add_latency("local://", latency_for(i))
    assert journal.telemetry.flush()
    now = wall_ns()
    journal.record_recording(recording, "local://", now - 2_000_000_000, now, 30, 0)


def _dialog(qtbot: QtBot, journal: Journal, out: Path) -> ExportDialog:
    dlg = ExportDialog(journal, out_dir=out, poll_ms=10)
    qtbot.addWidget(dlg)
    dlg.show()
    return dlg


def test_export_writes_a_pack_that_verifies(
    qtbot: QtBot, journal: Journal, tmp_path: Path, make_recording: Callable[..., Path]
) -> None:
    _fill(journal, make_recording(frames=30))
    out_dir = tmp_path / "usb"
    out_dir.mkdir()
    dlg = _dialog(qtbot, journal, out_dir)
    assert dlg.name_edit.text().startswith("evidence-Plant-4-")
    # Targets seen in the journal are offered.
    offered = [dlg.targets_list.item(i).text() for i in range(dlg.targets_list.count())]
    assert "local://" in offered and "serial:///dev/ttyACM0" in offered
    dlg.name_edit.setText("pack1")
    assert dlg.start_export()
    assert not dlg.export_button.isEnabled() and dlg.cancel_button.text() == "Cancel"
    # The window keeps running while the job works: the timer drives the progress bar.
    qtbot.waitUntil(lambda: dlg.state in ("done", "failed", "cancelled"), timeout=30_000)
    assert dlg.state == "done", dlg.result_label.text()
    assert "verified" in dlg.result_label.text()
    assert "signed by this console's key" in dlg.result_label.text()
    assert dlg.progress.value() == 1000
    pack = out_dir / "pack1"
    rep = verify_pack(pack)
    assert rep.ok, rep.problems
    assert rep.site == "Plant 4" and rep.technician == "Ana"
    assert (pack / "recordings" / "rec.mcap").is_file()
    assert dlg.export_button.isEnabled() and dlg.cancel_button.text() == "Close"
    # The same name again is refused with a sentence, nothing overwritten.
    assert dlg.start_export() is False
    assert "already exists" in dlg.result_label.text()


def test_cancel_midway_leaves_no_pack(
    qtbot: QtBot, journal: Journal, tmp_path: Path, make_recording: Callable[..., Path]
) -> None:
    _fill(journal, make_recording(frames=30))
    out_dir = tmp_path / "usb"
    out_dir.mkdir()
    dlg = _dialog(qtbot, journal, out_dir)
    dlg.name_edit.setText("pack2")
    # Hold the job at the audit-log stage (tables already written) until Cancel is pressed.
    reached, release = threading.Event(), threading.Event()
    real_progress = dlg._progress

    def gated(stage: str, frac: float) -> None:
        real_progress(stage, frac)
        if stage == "audit log":
            reached.set()
            release.wait(10)

    dlg._progress = gated  # type: ignore[method-assign]
    assert dlg.start_export()
    qtbot.waitUntil(reached.is_set, timeout=10_000)
    partial = [p for p in out_dir.iterdir() if ".partial" in p.name]
    assert partial and (partial[0] / "tables" / "results.csv").is_file()
    qtbot.waitUntil(lambda: "Audit log" in dlg.stage_label.text())
    dlg.cancel_button.click()
    assert dlg.state == "cancelling" and not dlg.cancel_button.isEnabled()
    release.set()
    qtbot.waitUntil(lambda: dlg.state == "cancelled", timeout=10_000)
    assert "No pack was written" in dlg.result_label.text()
    assert list(out_dir.iterdir()) == []  # neither the pack nor a partial folder
    assert not verify_pack(out_dir / "pack2").ok


def test_bad_inputs_are_explained(qtbot: QtBot, journal: Journal, tmp_path: Path) -> None:
    dlg = _dialog(qtbot, journal, tmp_path / "nowhere")
    assert dlg.start_export() is False and "folder does not exist" in dlg.result_label.text()
    dlg.folder_edit.setText(str(tmp_path))
    dlg.all_targets.setChecked(False)
    assert dlg.start_export() is False and "tick at least one target" in dlg.result_label.text()
    dlg.set_targets(None)
    dlg.range_combo.setCurrentIndex(dlg.range_combo.count() - 1)  # custom
    assert dlg.custom_box.isVisibleTo(dlg)
    dlg.since_edit.setDateTime(dlg.until_edit.dateTime().addDays(1))
    assert dlg.start_export() is False and "starts after it ends" in dlg.result_label.text()
    assert dlg.state == "idle"


def test_closing_while_running_cancels(
    qtbot: QtBot, journal: Journal, tmp_path: Path, make_recording: Callable[..., Path]
) -> None:
    _fill(journal, make_recording(frames=30))
    dlg = _dialog(qtbot, journal, tmp_path)
    dlg.name_edit.setText("pack3")
    release = threading.Event()
    real_progress = dlg._progress

    def gated(stage: str, frac: float) -> None:
        real_progress(stage, frac)
        release.wait(10)

    dlg._progress = gated  # type: ignore[method-assign]
    dlg.start_export()
    dlg.reject()  # Esc / window close while running
    assert dlg.isVisible() and dlg.state == "cancelling"
    release.set()
    qtbot.waitUntil(lambda: not dlg.isVisible(), timeout=10_000)
    assert dlg.state == "cancelled" and not (tmp_path / "pack3").exists()
