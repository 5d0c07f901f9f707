"""Build wizard: ONNX file -> description -> optional INT8 (with the FP32-vs-INT8
table) -> signing and output -> build on a worker thread, read back, done.

Every page only collects answers; ``session.workshop`` does the work.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from edgeconsole.core.errors import EdgeConsoleError
from edgeconsole.session import workshop as bj
from edgeconsole.session.jobs import JobRunner as SessionJobs
from edgeconsole.session.workshop import CHANNEL_ORDERS, HEAD_TYPES, LAYOUTS
from edgeconsole.ui.bundles.library import human_size
from edgeconsole.ui.jobs import JobRunner, ProgressStrip
from edgeconsole.ui.theme import COLOURS

RESIZE_MODES = ("none", "stretch", "letterbox", "pad")


def _error_label() -> QLabel:
    label = QLabel()
    label.setWordWrap(True)
    label.setStyleSheet(f"color: {COLOURS.fail}; font-weight: bold;")
    label.hide()
    return label


def _show_error(label: QLabel, text: str) -> None:
    label.setText(f"✖ {text}" if text else "")
    label.setVisible(bool(text))


def _floats(text: str, what: str) -> list[float]:
    try:
        values = [float(v) for v in text.replace(";", ",").split(",") if v.strip()]
    except ValueError as exc:
        raise ValueError(f"{what} must be numbers separated by commas") from exc
    if not values:
        raise ValueError(f"{what} needs at least one number")
    return values


def _path_row(edit: QLineEdit, button: QPushButton) -> QWidget:
    w = QWidget()
    lay = QHBoxLayout(w)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.addWidget(edit, 1)
    lay.addWidget(button)
    return w


class ModelPage(QWizardPage):
    def __init__(self) -> None:
        super().__init__()
        self.setTitle("1. The model")
        self.setSubTitle("Pick the ONNX file to ship. Inputs and outputs are read from it.")
        self.path = QLineEdit()
        self.path.setPlaceholderText("/path/to/model.onnx")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.io = QLabel()
        self.io.setWordWrap(True)
        self.io.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error = _error_label()
        form = QFormLayout(self)
        form.addRow("ONNX file", _path_row(self.path, browse))
        form.addRow("", self.io)
        form.addRow(self.error)
        self.path.textChanged.connect(self._changed)
        self.inputs: list[dict[str, Any]] = []

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "ONNX model", self.path.text(), "ONNX models (*.onnx)"
        )
        if path:
            self.path.setText(path)

    def _changed(self) -> None:
        self.inputs = []
        self.io.clear()
        _show_error(self.error, "")
        p = Path(self.path.text().strip())
        if not p.is_file():
            self.completeChanged.emit()
            return
        try:
            ins, outs = bj.model_io(p)
        except EdgeConsoleError as exc:
            _show_error(self.error, str(exc))
        else:
            self.inputs = ins
            lines = [f"input  <b>{t['name']}</b>: {t['dtype']} {t['shape']}" for t in ins]
            lines += [f"output <b>{t['name']}</b>: {t['dtype']} {t['shape']}" for t in outs]
            self.io.setText("<br>".join(lines))
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return bool(self.inputs)

    def model(self) -> Path:
        return Path(self.path.text().strip())


class DescribePage(QWizardPage):
    def __init__(self) -> None:
        super().__init__()
        self.setTitle("2. Preprocessing and head")
        self.setSubTitle(
            "How a camera frame or a sensor window becomes the model's input, and what the "
            "output means. Filled in from a model.json beside the file when there is one."
        )
        self.resize_mode = QComboBox()
        self.resize_mode.addItems(RESIZE_MODES)
        self.size_h = QSpinBox()
        self.size_w = QSpinBox()
        for s in (self.size_h, self.size_w):
            s.setRange(1, 8192)
            s.setValue(224)
        size = QWidget()
        sl = QHBoxLayout(size)
        sl.setContentsMargins(0, 0, 0, 0)
        sl.addWidget(QLabel("height"))
        sl.addWidget(self.size_h)
        sl.addWidget(QLabel("width"))
        sl.addWidget(self.size_w)
        sl.addStretch(1)
        self.channels = QComboBox()
        self.channels.addItems(CHANNEL_ORDERS)
        self.layout_box = QComboBox()
        self.layout_box.addItems(LAYOUTS)
        self.scale = QLineEdit("0.00392156862745098")
        self.mean = QLineEdit("0, 0, 0")
        self.std = QLineEdit("1, 1, 1")
        self.invert = QCheckBox("invert (255 − pixel)")
        self.flatten = QCheckBox("flatten to a vector")
        flags = QWidget()
        fl = QHBoxLayout(flags)
        fl.setContentsMargins(0, 0, 0, 0)
        fl.addWidget(self.invert)
        fl.addWidget(self.flatten)
        fl.addStretch(1)
        self.head = QComboBox()
        self.head.addItems(HEAD_TYPES)
        self.labels = QPlainTextEdit()
        self.labels.setPlaceholderText("one label per line")
        self.labels.setMaximumHeight(110)
        load_labels = QPushButton("Load labels file…")
        load_labels.clicked.connect(self._load_labels)
        self.threshold = QLineEdit()
        self.threshold.setPlaceholderText("optional, e.g. 0.5")
        self.budget = QDoubleSpinBox()
        self.budget.setRange(0, 100000)
        self.budget.setDecimals(1)
        self.budget.setSuffix(" ms")
        self.budget.setSpecialValueText("no budget")
        self.budget.setValue(100)
        self.error = _error_label()
        form = QFormLayout(self)
        form.addRow("Resize", self.resize_mode)
        form.addRow("Size", size)
        form.addRow("Channels", self.channels)
        form.addRow("Tensor layout", self.layout_box)
        form.addRow("Scale (× pixel)", self.scale)
        form.addRow("Mean", self.mean)
        form.addRow("Std", self.std)
        form.addRow("", flags)
        form.addRow("Head", self.head)
        form.addRow("Labels", self.labels)
        form.addRow("", load_labels)
        form.addRow("Threshold", self.threshold)
        form.addRow("Latency budget (p95)", self.budget)
        form.addRow(self.error)
        self._prefilled_for: Path | None = None
        #: The golden block of the model's own description (kept as the CLI keeps it).
        self.golden: dict[str, Any] = {}

    def _load_labels(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Labels file", "", "Text (*.txt);;All (*)")
        if path:
            try:
                text = Path(path).read_text(encoding="utf-8")[:1_000_000]
            except (OSError, UnicodeDecodeError) as exc:
                _show_error(self.error, f"cannot read labels file: {exc}")
                return
            self.labels.setPlainText(
                "\n".join(ln.strip() for ln in text.splitlines() if ln.strip())
            )

    def initializePage(self) -> None:
        wiz = self.wizard()
        assert isinstance(wiz, BuildWizard)
        model = wiz.model_page.model()
        if self._prefilled_for == model:
            return
        self._prefilled_for = model
        suggested = bj.suggest_description(model)
        self.golden = dict((suggested or {}).get("golden") or {})
        if suggested:
            self.fill(suggested)
            if suggested.get("name"):
                wiz.sign_page.name.setText(str(suggested["name"]))
            return
        ins = wiz.model_page.inputs
        shape = ins[0]["shape"] if ins else []
        if len(shape) == 4:  # an image model: NCHW or NHWC from where the 3 is
            nhwc = shape[3] in (1, 3)
            h, w = (shape[1], shape[2]) if nhwc else (shape[2], shape[3])
            c = shape[3] if nhwc else shape[1]
            self.fill(
                {
                    "preprocess": {
                        "resize": "stretch",
                        "size": [h if h > 0 else 224, w if w > 0 else 224],
                        "channel_order": "GRAY" if c == 1 else "RGB",
                        "layout": "NHWC" if nhwc else "NCHW",
                        "scale": 1 / 255,
                        "mean": [0.0] * (1 if c == 1 else 3),
                        "std": [1.0] * (1 if c == 1 else 3),
                    },
                    "head": {"type": "classify"},
                }
            )
        else:
            self.fill(
                {
                    "preprocess": {
                        "resize": "none",
                        "layout": "NC",
                        "channel_order": "GRAY",
                        "scale": 1.0,
                        "mean": [0.0],
                        "std": [1.0],
                    },
                    "head": {"type": "anomaly"},
                }
            )

    def fill(self, d: dict[str, Any]) -> None:
        pre = d.get("preprocess", {})
        self.resize_mode.setCurrentText(str(pre.get("resize", "none")))
        if pre.get("size"):
            self.size_h.setValue(int(pre["size"][0]))
            self.size_w.setValue(int(pre["size"][1]))
        self.channels.setCurrentText(str(pre.get("channel_order", "RGB")))
        self.layout_box.setCurrentText(str(pre.get("layout", "NCHW")))
        self.scale.setText(repr(float(pre.get("scale", 1 / 255))))
        self.mean.setText(", ".join(f"{v:g}" for v in pre.get("mean", [0.0, 0.0, 0.0])))
        self.std.setText(", ".join(f"{v:g}" for v in pre.get("std", [1.0, 1.0, 1.0])))
        self.invert.setChecked(bool(pre.get("invert", False)))
        self.flatten.setChecked(bool(pre.get("flatten", False)))
        head = d.get("head", {})
        self.head.setCurrentText(str(head.get("type", "classify")))
        self.labels.setPlainText("\n".join(map(str, head.get("labels", []))))
        thr = head.get("threshold")
        self.threshold.setText("" if thr is None else f"{thr:g}")
        self._extra_head = {
            k: v for k, v in head.items() if k in ("output", "top_k", "softmax", "score", "format")
        }
        budget = d.get("latency_budget_ms")
        self.budget.setValue(0 if budget is None else float(budget))

    def preprocess(self) -> dict[str, Any]:
        pre: dict[str, Any] = {
            "resize": self.resize_mode.currentText(),
            "channel_order": self.channels.currentText(),
            "layout": self.layout_box.currentText(),
            "scale": float(self.scale.text()),
            "mean": _floats(self.mean.text(), "mean"),
            "std": _floats(self.std.text(), "std"),
            "invert": self.invert.isChecked(),
            "flatten": self.flatten.isChecked(),
        }
        if pre["resize"] in ("stretch", "letterbox"):
            pre["size"] = [self.size_h.value(), self.size_w.value()]
        return pre

    def head_dict(self) -> dict[str, Any]:
        head: dict[str, Any] = {"type": self.head.currentText()}
        for k, v in getattr(self, "_extra_head", {}).items():
            head[k] = v
        labels = [ln.strip() for ln in self.labels.toPlainText().splitlines() if ln.strip()]
        if labels:
            head["labels"] = labels
        if self.threshold.text().strip():
            head["threshold"] = float(self.threshold.text())
        return head

    def budget_ms(self) -> float | None:
        return self.budget.value() or None

    def validatePage(self) -> bool:
        wiz = self.wizard()
        assert isinstance(wiz, BuildWizard)
        try:
            bj.check_request(wiz.request(draft=True))
        except (EdgeConsoleError, ValueError) as exc:
            _show_error(self.error, str(exc))
            return False
        _show_error(self.error, "")
        return True


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
        self.error = _error_label()
        lay = QVBoxLayout(self)
        for b in (self.fp32, self.static, self.dynamic):
            lay.addWidget(b)
        form = QFormLayout()
        form.addRow("Calibration folder", _path_row(self.calib, browse))
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
        wiz = self.wizard()
        assert isinstance(wiz, BuildWizard)
        try:
            req = wiz.request(draft=True)
        except (EdgeConsoleError, ValueError) as exc:
            _show_error(self.error, str(exc))
            return False
        _show_error(self.error, "")
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
            _show_error(self.error, text)

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
            _show_error(self.error, "static INT8 needs a calibration folder")
            return False
        _show_error(self.error, "")
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
        self.error = _error_label()
        form = QFormLayout(self)
        form.addRow("Bundle name", self.name)
        form.addRow("Version", self.version)
        form.addRow("Hardware ids", self.hardware)
        form.addRow("Signing key", _path_row(self.key, kb))
        form.addRow("Passphrase", self.passphrase)
        form.addRow("Save as", _path_row(self.out, ob))
        form.addRow("", self.overwrite)
        form.addRow(self.error)
        for w in (self.name, self.key, self.out):
            w.textChanged.connect(self.completeChanged)

    def initializePage(self) -> None:
        wiz = self.wizard()
        assert isinstance(wiz, BuildWizard)
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
        wiz = self.wizard()
        assert isinstance(wiz, BuildWizard)
        try:
            req = wiz.request()
            bj.check_request(req)
            if req.out.exists() and not req.overwrite:
                raise ValueError(f"{req.out} already exists: choose another name or tick replace")
            if not req.key_file.is_file():
                raise ValueError(f"signing key not found: {req.key_file}")
        except (EdgeConsoleError, ValueError) as exc:
            _show_error(self.error, str(exc))
            return False
        _show_error(self.error, "")
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
        wiz = self.wizard()
        assert isinstance(wiz, BuildWizard)
        req = wiz.request()
        self.outcome = None
        self.result.clear()
        self.summary.setText(
            f"<b>{req.name}</b> v{req.version} from {req.model.name}, head "
            f"{req.head['type']}, {'INT8 ' + req.int8 if req.int8 else 'FP32'}, for "
            f"{', '.join(req.hardware_ids)}<br>signed with {req.key_file.name}<br>→ {req.out}"
        )

    def start_build(self) -> bool:
        wiz = self.wizard()
        assert isinstance(wiz, BuildWizard)
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


class BuildWizard(QWizard):
    built = Signal(Path)

    def __init__(
        self,
        trust_dir: Path,
        output_dir: Path,
        parent: QWidget | None = None,
        jobs: SessionJobs | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Build a signed model bundle")
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnLastPage, True)
        self.trust_dir = trust_dir
        self.output_dir = output_dir
        self.runner = JobRunner(self, jobs)
        self.model_page = ModelPage()
        self.describe_page = DescribePage()
        self.int8_page = Int8Page(self.runner)
        self.sign_page = SignPage()
        self.build_page = BuildPage(self.runner)
        for p in (
            self.model_page,
            self.describe_page,
            self.int8_page,
            self.sign_page,
            self.build_page,
        ):
            self.addPage(p)
        self.resize(900, 720)
        from edgeconsole.ui.bundles.panel import INDICATORS

        self.setStyleSheet(INDICATORS)

    def request(self, draft: bool = False) -> bj.BuildRequest:
        """The answers so far; ``draft`` fills name/key/output with placeholders so the
        description can be checked before the last page."""
        s = self.sign_page
        name = s.name.text().strip() or ("draft" if draft else "")
        return bj.BuildRequest(
            model=self.model_page.model(),
            name=name,
            version=s.version.value(),
            preprocess=self.describe_page.preprocess(),
            head=self.describe_page.head_dict(),
            hardware_ids=[h.strip() for h in s.hardware.text().split(",") if h.strip()]
            or (["laptop"] if draft else []),
            key_file=Path(s.key.text().strip() or "draft.key"),
            out=Path(s.out.text().strip() or "draft.ecb"),
            passphrase=s.passphrase.text().encode() or None,
            budget_ms=self.describe_page.budget_ms(),
            int8=self.int8_page.mode(),
            calib_dir=self.int8_page.calib_dir(),
            overwrite=s.overwrite.isChecked(),
            golden=dict(self.describe_page.golden),
        )

    def reject(self) -> None:
        # Closing the wizard stops its work; the thread ends at its next check.
        self.runner.cancel()
        super().reject()

    def shutdown(self) -> None:
        self.runner.cancel()
        self.runner.wait()
