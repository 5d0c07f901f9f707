"""The build wizard's first pages: pick the ONNX model, then describe it (preprocess,
head, labels, budget), starting from a ``model.json`` beside it when there is one;
and the small widgets every page of the wizard uses."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QWidget,
    QWizardPage,
)

from edgeconsole.core.errors import EdgeConsoleError
from edgeconsole.session import workshop as bj
from edgeconsole.session.workshop import CHANNEL_ORDERS, HEAD_TYPES, LAYOUTS
from edgeconsole.ui.theme import COLOURS

if TYPE_CHECKING:
    from edgeconsole.ui.bundles.wizard import BuildWizard


def owner(page: QWizardPage) -> BuildWizard:
    """The wizard a page belongs to (its answers are the request)."""
    from edgeconsole.ui.bundles.wizard import BuildWizard

    wiz = page.wizard()
    assert isinstance(wiz, BuildWizard)
    return wiz


RESIZE_MODES = ("none", "stretch", "letterbox", "pad")


def error_label() -> QLabel:
    label = QLabel()
    label.setWordWrap(True)
    label.setStyleSheet(f"color: {COLOURS.fail}; font-weight: bold;")
    label.hide()
    return label


def show_error(label: QLabel, text: str) -> None:
    label.setText(f"✖ {text}" if text else "")
    label.setVisible(bool(text))


def floats(text: str, what: str) -> list[float]:
    try:
        values = [float(v) for v in text.replace(";", ",").split(",") if v.strip()]
    except ValueError as exc:
        raise ValueError(f"{what} must be numbers separated by commas") from exc
    if not values:
        raise ValueError(f"{what} needs at least one number")
    return values


def path_row(edit: QLineEdit, button: QPushButton) -> QWidget:
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
        self.error = error_label()
        form = QFormLayout(self)
        form.addRow("ONNX file", path_row(self.path, browse))
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
        show_error(self.error, "")
        p = Path(self.path.text().strip())
        if not p.is_file():
            self.completeChanged.emit()
            return
        try:
            ins, outs = bj.model_io(p)
        except EdgeConsoleError as exc:
            show_error(self.error, str(exc))
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
        self.error = error_label()
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
                show_error(self.error, f"cannot read labels file: {exc}")
                return
            self.labels.setPlainText(
                "\n".join(ln.strip() for ln in text.splitlines() if ln.strip())
            )

    def initializePage(self) -> None:
        wiz = owner(self)
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
            "mean": floats(self.mean.text(), "mean"),
            "std": floats(self.std.text(), "std"),
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
        wiz = owner(self)
        try:
            bj.check_request(wiz.request(draft=True))
        except (EdgeConsoleError, ValueError) as exc:
            show_error(self.error, str(exc))
            return False
        show_error(self.error, "")
        return True
