"""The build wizard's later pages: INT8 (the FP32-vs-INT8 table measured on the
session's job runner), signing and output, and the build itself, read back."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWizardPage,
)

from edgeconsole.core.errors import EdgeConsoleError
from edgeconsole.session import workshop as bj
from edgeconsole.ui.bundles.library import human_size
from edgeconsole.ui.bundles.wizard_describe import error_label, owner, path_row, show_error
from edgeconsole.ui.jobs import JobRunner, ProgressStrip
from edgeconsole.ui.theme import COLOURS


class Int8Page(QWizardPage):
    def __init__(self, runner: JobRunner) -> None:
        super().__init__()
        self.setTitle("3. INT8 (optional)")
        self.setSubTitle(
            "INT8 is smaller and often, not always, faster. Compare measures FP32 and INT8 "
            "on this machine in one run; ship INT8 only if the numbers say so."
        )
        self.runner = runner
        self.fp32 = QRadioButton("Ship FP32 (the model as it is)")
        self.static = QRadioButton("Ship INT8, static (calibrated on your folder)")
        self.dynamic = QRadioButton("Ship INT8, dynamic (no calibration)")
        self.fp32.setChecked(True)
        self.group = QButtonGroup(self)
        for b in (self.fp32, self.static, self.dynamic):
            self.group.addButton(b)
        self.calib = QLineEdit()
        self.calib.setPlaceholderText("folder of images or .npy windows like those in use")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.compare_button = QPushButton("Compare FP32 vs INT8")
        self.compare_button.clicked.connect(self.start_compare)
        self.strip = ProgressStrip(runner)
        self.table = QTableWidget(0, 6)
        self.table.setHorizontalHeaderLabels(
            ["Variant", "Size", "p50", "p99", "Agreement", "Max |diff|"]
        )
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setAccessibleName("FP32 versus INT8")
        self.recommendation = QLabel()
        self.recommendation.setWordWrap(True)
        self.error = error_label()
        lay = QVBoxLayout(self)
        for b in (self.fp32, self.static, self.dynamic):
            lay.addWidget(b)
        form = QFormLayout()
        form.addRow("Calibration folder", path_row(self.calib, browse))
        lay.addLayout(form)
        row = QHBoxLayout()
        row.addWidget(self.compare_button)
        row.addWidget(self.strip, 1)
        lay.addLayout(row)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.recommendation)
        lay.addWidget(self.error)
        self.comparison: bj.Int8Comparison | None = None
        self._compared_for: tuple[Any, ...] | None = None
        runner.finished.connect(self.completeChanged)

    def _browse(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Calibration folder", self.calib.text())
        if path:
            self.calib.setText(path)

    def mode(self) -> str | None:
        if self.static.isChecked():
            return "static"
        return "dynamic" if self.dynamic.isChecked() else None

    def calib_dir(self) -> Path | None:
        return Path(self.calib.text().strip()) if self.calib.text().strip() else None

    def start_compare(self) -> bool:
        wiz = owner(self)
        try:
            req = wiz.request(draft=True)
        except (EdgeConsoleError, ValueError) as exc:
            show_error(self.error, str(exc))
            return False
        show_error(self.error, "")
        key = (req.model, str(req.calib_dir), str(req.preprocess), str(req.head))

        def done(result: object) -> None:
            assert isinstance(result, bj.Int8Comparison)
            self.comparison = result
            self._compared_for = key
            self.show_report(result.report)

        self._connect_once(done)
        self.strip.begin("Comparing FP32 and INT8")
        self.compare_button.setEnabled(False)
        return self.runner.start("INT8 comparison", lambda p, c: bj.compare_int8(req, p, c))

    def _connect_once(self, on_success: Any) -> None:
        def ok(r: object) -> None:
            cleanup()
            on_success(r)

        def bad(text: str) -> None:
            cleanup()
            show_error(self.error, text)

        def stopped() -> None:
            cleanup()
            self.recommendation.setText("Comparison cancelled.")

        def cleanup() -> None:
            self.runner.succeeded.disconnect(ok)
            self.runner.failed.disconnect(bad)
            self.runner.cancelled.disconnect(stopped)
            self.compare_button.setEnabled(True)

        self.runner.succeeded.connect(ok)
        self.runner.failed.connect(bad)
        self.runner.cancelled.connect(stopped)

    def show_report(self, report: Any) -> None:
        self.table.setRowCount(len(report.variants))
        for i, v in enumerate(report.variants):
            if v.error:
                cells = [
                    v.name,
                    human_size(v.size_bytes) if v.size_bytes else "—",
                    "—",
                    "—",
                    v.error,
                    "—",
                ]
            else:
                agree = (
                    "reference"
                    if v.name == "fp32"
                    else f"top-1 {100 * v.top1_agreement:.1f}%"
                    if v.top1_agreement is not None
                    else f"IoU {v.box_iou:.3f}"
                    if v.box_iou is not None
                    else f"decision {100 * v.decision_agreement:.1f}%"
                    if v.decision_agreement is not None
                    else "—"
                )
                cells = [
                    v.name,
                    human_size(v.size_bytes),
                    "—" if math.isnan(v.p50_ms) else f"{v.p50_ms:.3f} ms",
                    "—" if math.isnan(v.p99_ms) else f"{v.p99_ms:.3f} ms",
                    agree,
                    "—" if v.max_abs_diff is None else f"{v.max_abs_diff:.4g}",
                ]
            for j, c in enumerate(cells):
                self.table.setItem(i, j, QTableWidgetItem(c))
        self.recommendation.setText(f"<b>Recommendation:</b> {report.recommendation}")

    def isComplete(self) -> bool:
        return not self.runner.running

    def validatePage(self) -> bool:
        if self.mode() == "static" and self.calib_dir() is None:
            show_error(self.error, "static INT8 needs a calibration folder")
            return False
        show_error(self.error, "")
        return True


class SignPage(QWizardPage):
    def __init__(self) -> None:
        super().__init__()
        self.setTitle("4. Name, sign and save")
        self.setSubTitle("Devices refuse bundles with a lower version than the one installed.")
        self.name = QLineEdit()
        self.version = QSpinBox()
        self.version.setRange(1, 2_000_000_000)
        self.hardware = QLineEdit("laptop")
        self.hardware.setToolTip("Compatible hardware ids, separated by commas")
        self.key = QLineEdit()
        self.key.setPlaceholderText("signing .key file (from 'edgeconsole bundle keygen')")
        kb = QPushButton("Browse…")
        kb.clicked.connect(self._browse_key)
        self.passphrase = QLineEdit()
        self.passphrase.setEchoMode(QLineEdit.EchoMode.Password)
        self.passphrase.setPlaceholderText("only if the key is encrypted")
        self.out = QLineEdit()
        ob = QPushButton("Browse…")
        ob.clicked.connect(self._browse_out)
        self.overwrite = QCheckBox("replace the file if it exists")
        self.error = error_label()
        form = QFormLayout(self)
        form.addRow("Bundle name", self.name)
        form.addRow("Version", self.version)
        form.addRow("Hardware ids", self.hardware)
        form.addRow("Signing key", path_row(self.key, kb))
        form.addRow("Passphrase", self.passphrase)
        form.addRow("Save as", path_row(self.out, ob))
        form.addRow("", self.overwrite)
        form.addRow(self.error)
        for w in (self.name, self.key, self.out):
            w.textChanged.connect(self.completeChanged)

    def initializePage(self) -> None:
        wiz = owner(self)
        if not self.name.text():
            self.name.setText(wiz.model_page.model().stem.replace(".", "-"))
        if not self.out.text():
            self.out.setText(str(wiz.output_dir / f"{self.name.text()}-{self.version.value()}.ecb"))

    def _browse_key(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Signing key", "", "Private keys (*.key)")
        if path:
            self.key.setText(path)

    def _browse_out(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save bundle", self.out.text(), "Bundles (*.ecb)"
        )
        if path:
            self.out.setText(path if path.endswith(".ecb") else path + ".ecb")

    def isComplete(self) -> bool:
        return all(w.text().strip() for w in (self.name, self.key, self.out))

    def validatePage(self) -> bool:
        wiz = owner(self)
        try:
            req = wiz.request()
            bj.check_request(req)
            if req.out.exists() and not req.overwrite:
                raise ValueError(f"{req.out} already exists: choose another name or tick replace")
            if not req.key_file.is_file():
                raise ValueError(f"signing key not found: {req.key_file}")
        except (EdgeConsoleError, ValueError) as exc:
            show_error(self.error, str(exc))
            return False
        show_error(self.error, "")
        return True


class BuildPage(QWizardPage):
    def __init__(self, runner: JobRunner) -> None:
        super().__init__()
        self.setTitle("5. Build")
        self.setSubTitle(
            "The bundle is written, then read back through the same verifier the devices use."
        )
        self.runner = runner
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.build_button = QPushButton("Build bundle")
        self.build_button.clicked.connect(self.start_build)
        self.strip = ProgressStrip(runner)
        self.result = QLabel()
        self.result.setWordWrap(True)
        self.result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay = QVBoxLayout(self)
        lay.addWidget(self.summary)
        row = QHBoxLayout()
        row.addWidget(self.build_button)
        row.addWidget(self.strip, 1)
        lay.addLayout(row)
        lay.addWidget(self.result, 1)
        self.outcome: bj.BuildOutcome | None = None
        self.error_text = ""
        runner.finished.connect(self.completeChanged)

    def initializePage(self) -> None:
        wiz = owner(self)
        req = wiz.request()
        self.outcome = None
        self.result.clear()
        self.summary.setText(
            f"<b>{req.name}</b> v{req.version} from {req.model.name}, head "
            f"{req.head['type']}, {'INT8 ' + req.int8 if req.int8 else 'FP32'}, for "
            f"{', '.join(req.hardware_ids)}<br>signed with {req.key_file.name}<br>→ {req.out}"
        )

    def start_build(self) -> bool:
        wiz = owner(self)
        req = wiz.request()
        comparison = wiz.int8_page.comparison
        trust_dir = wiz.trust_dir
        self.error_text = ""
        self.result.setStyleSheet("")
        self.result.setText("")

        def ok(r: object) -> None:
            cleanup()
            assert isinstance(r, bj.BuildOutcome)
            self.outcome = r
            lines = [
                f"✔ Wrote {r.out} ({human_size(r.size)}): {r.name} v{r.version}, "
                f"{len(r.files)} files, quantization {r.quantization.get('mode')}.",
                f"It verifies with key {r.key_id}.",
            ]
            lines += [f"⚠ {n}" for n in r.notes]
            if r.report is not None:
                lines.append(f"INT8: {r.report.recommendation}")
            self.result.setStyleSheet(
                f"color: {COLOURS.ok if r.app_trusts_signer else COLOURS.warn};"
            )
            self.result.setText("<br>".join(lines))
            wiz.built.emit(r.out)

        def bad(text: str) -> None:
            cleanup()
            self.error_text = text
            self.result.setStyleSheet(f"color: {COLOURS.fail}; font-weight: bold;")
            self.result.setText(f"✖ Not built: {text}")

        def stopped() -> None:
            cleanup()
            self.error_text = "cancelled"
            self.result.setStyleSheet(f"color: {COLOURS.warn};")
            self.result.setText("Build cancelled; nothing was written.")

        def cleanup() -> None:
            self.runner.succeeded.disconnect(ok)
            self.runner.failed.disconnect(bad)
            self.runner.cancelled.disconnect(stopped)
            self.build_button.setEnabled(True)

        self.runner.succeeded.connect(ok)
        self.runner.failed.connect(bad)
        self.runner.cancelled.connect(stopped)
        self.build_button.setEnabled(False)
        self.strip.begin("Building")
        started = self.runner.start(
            "Build",
            lambda p, c: bj.build(req, p, c, comparison=comparison, app_trust_dir=trust_dir),
        )
        if not started:
            cleanup()
        return started

    def isComplete(self) -> bool:
        return self.outcome is not None and not self.runner.running
