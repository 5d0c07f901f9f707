"""The Commission flow in a real (offscreen) Qt window, on the real digits model."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from edgeconsole.commission import verify_report
from edgeconsole.ui.commission import CommissionPanel
from tests.commission.helpers import (
    DIGITS_BUNDLE,
    DIGITS_SET,
    TRUST,
    assert_passes_but_for_timing,
    subset,
)

SCREENSHOT = os.environ.get("EDGECONSOLE_COMMISSION_SCREENSHOT")


def _done(panel: CommissionPanel) -> bool:
    return not panel.running and not panel.timer.isActive()


def test_run_shows_live_matrix_histogram_and_a_signed_report(qtbot: QtBot, tmp_path: Path) -> None:
    if SCREENSHOT:
        from PySide6.QtWidgets import QApplication

        from edgeconsole.ui.theme import apply_theme

        apply_theme(QApplication.instance())  # type: ignore[arg-type]
    panel = CommissionPanel(reports_dir=tmp_path)
    qtbot.addWidget(panel)
    panel.resize(1100, 1000)
    panel.show()
    data = subset(DIGITS_SET, tmp_path / "d", 6) if not SCREENSHOT else DIGITS_SET
    panel.bundle.setText(str(DIGITS_BUNDLE))
    panel.trust.setText(str(TRUST))
    panel.dataset.setText(str(data))
    panel.line_rate.setValue(600)
    panel.budget.setValue(5)
    assert panel.start()
    qtbot.waitUntil(lambda: _done(panel), timeout=60_000)
    assert panel.progress.value() == panel.progress.maximum() == (200 if SCREENSHOT else 60)
    assert panel.matrix.rowCount() == 10 and panel.matrix.columnCount() >= 10
    total = sum(
        int(panel.matrix.item(i, j).text())
        for i in range(panel.matrix.rowCount())
        for j in range(panel.matrix.columnCount())
    )
    assert total == panel.progress.value()
    assert panel.budget_line.isVisible() and panel.budget_line.value() == 5
    assert panel.interval_line.value() == pytest.approx(100.0)
    assert panel.verdict.text() in ("PASS", "FAIL")
    assert "At 600 parts/min a part arrives every 100 ms." in panel.summary.toPlainText()
    summary = panel.summary.toPlainText()
    assert "Preprocessing: stretch to 8x8, GRAY, inverted" in summary
    assert panel.request().min_samples == panel.min_samples.value() == 10
    if not SCREENSHOT:  # 6 samples per class: no class's recall may pass, and it says why
        assert "not enough samples: 0 (6 of 10 needed)" in summary
    assert panel.view_button.isEnabled() and panel.export_button.isEnabled()
    assert panel.written is not None and verify_report(panel.written.html).valid
    exported = panel.export_to(tmp_path / "export" / "site-report.html")
    assert [p.suffix for p in exported] == [".html", ".json"]
    assert verify_report(exported[0]).valid
    # The PDF renders on the session's job runner: export_to returns before it exists.
    with_pdf = panel.export_to(tmp_path / "export-pdf" / "site-report.html", pdf=True)
    assert [p.suffix for p in with_pdf] == [".html", ".json"]
    assert "rendering the PDF" in panel.status.text()
    pdf = tmp_path / "export-pdf" / "site-report.pdf"
    # The job's end reaches the label through a queued signal: wait for the label, which
    # says the PDF only once the job is done (a loaded machine ran them apart in CI).
    qtbot.waitUntil(
        lambda: not panel.pdf_runner.running and str(pdf) in panel.status.text(), timeout=60_000
    )
    assert pdf.read_bytes()[:5] == b"%PDF-", panel.status.text()
    if SCREENSHOT:
        panel.grab().save(SCREENSHOT)


def test_bad_inputs_are_said_in_the_window(qtbot: QtBot, tmp_path: Path) -> None:
    panel = CommissionPanel(reports_dir=tmp_path)
    qtbot.addWidget(panel)
    assert not panel.start()
    assert "Pick a bundle and a dataset" in panel.status.text()
    (tmp_path / "empty").mkdir()
    panel.bundle.setText(str(DIGITS_BUNDLE))
    panel.trust.setText(str(TRUST))
    panel.dataset.setText(str(tmp_path / "empty"))
    assert panel.start()
    qtbot.waitUntil(lambda: _done(panel), timeout=30_000)
    assert "dataset has no images" in panel.status.text()
    assert panel.run_button.isEnabled() and not panel.view_button.isEnabled()


def test_cancel_marks_the_run_partial(qtbot: QtBot, tmp_path: Path) -> None:
    panel = CommissionPanel(reports_dir=tmp_path)
    qtbot.addWidget(panel)
    panel.bundle.setText(str(DIGITS_BUNDLE))
    panel.trust.setText(str(TRUST))
    panel.dataset.setText(str(DIGITS_SET))
    panel.start()
    panel.cancel()  # before or during the run: either way it ends PARTIAL
    qtbot.waitUntil(lambda: _done(panel), timeout=60_000)
    assert panel.verdict.text().startswith("PARTIAL: cancelled by the person")


LINE_SCREENSHOT = os.environ.get("EDGECONSOLE_LINE_COMMISSION_SCREENSHOT")


def test_moving_line_run_in_the_commission_tab(qtbot: QtBot, tmp_path: Path) -> None:
    from tests.commission.helpers import REPO
    from tests.commission.test_line_validate import SOURCE, truth_rows, write_truth

    if LINE_SCREENSHOT:
        from PySide6.QtWidgets import QApplication

        from edgeconsole.ui.theme import apply_theme

        apply_theme(QApplication.instance())  # type: ignore[arg-type]
    panel = CommissionPanel(reports_dir=tmp_path)
    qtbot.addWidget(panel)
    panel.resize(1100, 1000)
    panel.show()
    panel.bundle.setText(str(REPO / "sample_models" / "bundles" / "label-orientation-1.ecb"))
    panel.trust.setText(str(TRUST))
    # A bad truth file is refused before anything runs, with its row.
    bad = tmp_path / "bad.csv"
    bad.write_text("frame,label\n12,sideways\n")
    panel.line_video.setText(SOURCE)
    panel.line_truth.setText(str(bad))
    assert not panel.start() and "'sideways'" in panel.status.text()
    panel.line_truth.setText(str(write_truth(tmp_path / "parts.csv", truth_rows())))
    panel.line_rate.setValue(120)
    panel.budget.setValue(5)  # the fast bundle's own budget; the test does not judge speed
    assert panel.start()
    qtbot.waitUntil(lambda: _done(panel), timeout=120_000)
    if LINE_SCREENSHOT:
        panel.grab().save(LINE_SCREENSHOT)
    assert panel.written is not None
    report = json.loads(panel.written.json.read_text())
    assert_passes_but_for_timing(report)  # speed is this machine's; the rest must pass
    assert panel.verdict.text() == report["verdict"], panel.summary.toPlainText()
    assert "At 120 parts/min a part arrives every 500 ms." in panel.summary.toPlainText()
    assert "missed parts" in panel.summary.toPlainText()
    assert panel.progress.value() == panel.progress.maximum() == 150
    assert panel.progress.format() == "%v / %m frames"
    assert panel.written is not None and verify_report(panel.written.html).valid
    # A dataset and a line video together are two kinds of run.
    panel.dataset.setText(str(tmp_path))
    assert not panel.start() and "two kinds of run" in panel.status.text()
