"""Camera setup: find industrial cameras, read and set their features, save/load a setup.

Thin over ``session.cameras.CameraSetupJob``: every button sends one command that
runs on the job's worker thread; results come back through ``session.poll()``
(``Update.camera_setup``) and ``apply_results`` shows them. Values are typed as
text; the camera's own node map decides, and a refusal is shown in its sentence.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QColor, QFont, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from edgeconsole.session.api import FeatureInfo
from edgeconsole.session.cameras import CameraSetupResult
from edgeconsole.ui.theme import COLOURS

COLUMNS = ("Feature", "Value", "Accepts", "Access")
SETTINGS_KEY = "camera/last_source"


class CameraSetupPanel(QWidget):
    def __init__(
        self,
        job: Any,
        settings: QSettings | None = None,
        reports_dir: Path | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("cameraSetupPanel")
        self.job = job
        self.settings = settings
        self.reports_dir = reports_dir or Path.home()
        self.features: list[FeatureInfo] = []
        self._loading = False
        self._edited: dict[str, str] = {}

        self.source = QComboBox()
        self.source.setEditable(True)
        self.source.setMinimumWidth(320)
        self.source.setToolTip("aravis://DEVICE_ID or pylon://SERIAL")
        last = settings.value(SETTINGS_KEY, "") if settings is not None else ""
        if last:
            self.source.addItem(str(last))
        self.find_button = QPushButton("Find cameras")
        self.read_button = QPushButton("Read")
        self.identity = QLabel("No camera read yet.")
        self.identity.setObjectName("cameraIdentity")
        top = QHBoxLayout()
        top.addWidget(QLabel("Camera"))
        top.addWidget(self.source, 1)
        top.addWidget(self.find_button)
        top.addWidget(self.read_button)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("cameraFeatures")
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setColumnWidth(1, 200)
        self.table.itemChanged.connect(self._on_item_changed)

        self.apply_button = QPushButton("Apply changes")
        self.apply_button.setToolTip("Send the edited values to the camera (Ctrl+Return)")
        self.trigger_button = QPushButton("Software trigger")
        self.trigger_button.setToolTip(
            "Run TriggerSoftware once (the camera must be in trigger mode)"
        )
        self.save_button = QPushButton("Save setup…")
        self.load_button = QPushButton("Load setup…")
        buttons = QHBoxLayout()
        for b in (self.apply_button, self.trigger_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        for b in (self.save_button, self.load_button):
            buttons.addWidget(b)

        self.message = QLabel("")
        self.message.setObjectName("cameraMessage")
        self.message.setWordWrap(True)
        self.message.setTextFormat(Qt.TextFormat.RichText)
        # Room for a few refusals, each a sentence: a clipped one is a lost one.
        self.message.setMinimumHeight(self.message.fontMetrics().lineSpacing() * 4)
        self.message.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.identity)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.message)

        self.find_button.clicked.connect(self.find_cameras)
        self.read_button.clicked.connect(self.read)
        self.apply_button.clicked.connect(self.apply_changes)
        self.trigger_button.clicked.connect(self.trigger)
        self.save_button.clicked.connect(self.save)
        self.load_button.clicked.connect(self.load)
        QShortcut(QKeySequence("Ctrl+Return"), self, self.apply_changes)
        self._set_busy(False)

    # -- commands ---------------------------------------------------------------------
    @property
    def spec(self) -> str:
        return self.source.currentText().strip()

    def set_source(self, spec: str) -> None:
        if self.source.findText(spec) < 0:
            self.source.insertItem(0, spec)
        self.source.setCurrentText(spec)

    def _send(self, started: bool, what: str) -> None:
        if not started:
            self._say("The camera is still busy with the last request.", "warn")
            return
        self._set_busy(True)
        self._say(what, "info")

    def find_cameras(self) -> None:
        self._send(self.job.discover(), "Searching GigE Vision, USB3 Vision and pylon…")

    def read(self) -> None:
        if self._need_spec():
            self._remember()
            self._send(self.job.read(self.spec), f"Reading {self.spec}…")

    def apply_changes(self) -> None:
        if not self._edited:
            self._say("Nothing changed: edit a value first.", "info")
            return
        if self._need_spec():
            items = list(self._edited.items())
            self._send(self.job.set(self.spec, items), f"Setting {', '.join(n for n, _ in items)}…")

    def run_command(self, name: str) -> None:
        if self._need_spec():
            self._send(self.job.set(self.spec, [(name, None)]), f"Running {name}…")

    def trigger(self) -> None:
        self.run_command("TriggerSoftware")

    def save(self, path: str | None = None) -> None:
        if not self._need_spec():
            return
        if path is None:
            path, _ = QFileDialog.getSaveFileName(
                self,
                "Save camera setup",
                str(self.reports_dir / "camera-setup.json"),
                "Camera setup (*.json)",
            )
        if path:
            self._send(self.job.save(self.spec, Path(path)), f"Saving to {path}…")

    def load(self, path: str | None = None) -> None:
        if not self._need_spec():
            return
        if path is None:
            path, _ = QFileDialog.getOpenFileName(
                self, "Load camera setup", str(self.reports_dir), "Camera setup (*.json)"
            )
        if path:
            self._send(self.job.load(self.spec, Path(path)), f"Applying {path}…")

    def _need_spec(self) -> bool:
        if not self.spec:
            self._say("Pick a camera first (Find cameras lists them).", "warn")
            return False
        return True

    def _remember(self) -> None:
        if self.settings is not None:
            self.settings.setValue(SETTINGS_KEY, self.spec)

    # -- results ----------------------------------------------------------------------
    def apply_results(self, results: list[CameraSetupResult]) -> None:
        for r in results:
            if r.waiting:  # the operation goes on: say so, keep the buttons as they are
                self._say(r.message, "warn")
                continue
            self._set_busy(False)
            if r.op == "discover":
                self._show_found(r)
                continue
            if r.camera:
                c = r.camera
                self.identity.setText(
                    f"<b>{c['vendor']} {c['model']}</b> · serial {c['serial']} · "
                    f"{c['interface']} {c.get('address') or ''}"
                )
            if r.features:
                self._show_features(r.features)
            if r.done or r.refused:
                self._say_mixed(r.done, r.refused)
            else:
                self._say(r.message or ("Done." if r.ok else "Failed."), "ok" if r.ok else "fail")

    def _show_found(self, r: CameraSetupResult) -> None:
        found = r.found or {}
        cams = found.get("cameras", [])
        current = self.spec
        self.source.clear()
        for c in cams:
            self.source.addItem(c["source"])
            i = self.source.count() - 1
            self.source.setItemData(
                i,
                f"{c['vendor']} {c['model']} ({c['serial']}) {c['interface']}",
                Qt.ItemDataRole.ToolTipRole,
            )
        if current and self.source.findText(current) < 0:
            self.source.addItem(current)
        if cams:
            self.source.setCurrentIndex(0)
            self._say(f"Found {len(cams)} camera(s). Read one to see its features.", "ok")
        else:
            notes = " ".join(found.get("notes", [])) or r.message
            self._say(f"No camera found. {notes}", "warn")

    def _show_features(self, infos: list[FeatureInfo]) -> None:
        self._loading = True
        self._edited.clear()
        self.features = list(infos)
        self.table.setRowCount(len(infos))
        for row, f in enumerate(infos):
            name = QTableWidgetItem(f.name + ("" if f.node == f.name else f"  ({f.node})"))
            name.setFlags(Qt.ItemFlag.ItemIsEnabled)
            name.setToolTip(f.description or f.name)
            name.setData(Qt.ItemDataRole.UserRole, f.name)
            self.table.setItem(row, 0, name)
            self.table.removeCellWidget(row, 1)
            value = QTableWidgetItem("" if f.kind == "command" else f.value_text())
            editable = f.writable and f.kind not in ("command", "enumeration")
            value.setFlags(
                Qt.ItemFlag.ItemIsEnabled
                | Qt.ItemFlag.ItemIsSelectable
                | (Qt.ItemFlag.ItemIsEditable if editable else Qt.ItemFlag.NoItemFlags)
            )
            if f.kind in ("integer", "float") and f.value is not None:
                value.setText(f"{f.value:g}" if isinstance(f.value, float) else str(f.value))
            if not f.writable:
                value.setForeground(QColor(COLOURS.text_dim))
            self.table.setItem(row, 1, value)
            if f.kind == "enumeration" and f.writable:
                self.table.setCellWidget(row, 1, self._choice(f))
            elif f.kind == "command":
                button = QPushButton("Run")
                button.setEnabled(f.writable)
                button.clicked.connect(lambda _=False, n=f.name: self.run_command(n))
                self.table.setCellWidget(row, 1, button)
            accepts = QTableWidgetItem(f.range_text())
            accepts.setFlags(Qt.ItemFlag.ItemIsEnabled)
            accepts.setToolTip(f.range_text())
            self.table.setItem(row, 2, accepts)
            access = (
                "read/write"
                if f.readable and f.writable
                else "read only"
                if f.readable
                else ("write only" if f.writable else "unavailable")
            )
            acc = QTableWidgetItem(access)
            acc.setFlags(Qt.ItemFlag.ItemIsEnabled)
            self.table.setItem(row, 3, acc)
        self._loading = False

    def _choice(self, f: FeatureInfo) -> QComboBox:
        box = QComboBox()
        box.addItems(list(f.options))
        if f.value is not None:
            box.setCurrentText(str(f.value))
        box.currentTextChanged.connect(lambda text, n=f.name: self._edit(n, text))
        return box

    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if self._loading or item.column() != 1:
            return
        name_item = self.table.item(item.row(), 0)
        if name_item is None:
            return
        self._edit(str(name_item.data(Qt.ItemDataRole.UserRole)), item.text())
        font = QFont(item.font())
        font.setBold(True)
        self._loading = True
        item.setFont(font)
        self._loading = False

    def _edit(self, name: str, text: str) -> None:
        if self._loading:
            return
        self._edited[name] = text.strip()
        self._say(f"Edited: {', '.join(self._edited)}. Apply changes sends them.", "info")

    # -- look -------------------------------------------------------------------------
    def _set_busy(self, busy: bool) -> None:
        for b in (
            self.find_button,
            self.read_button,
            self.apply_button,
            self.trigger_button,
            self.save_button,
            self.load_button,
        ):
            b.setEnabled(not busy)

    def _say_mixed(self, done: list[str], refused: list[str]) -> None:
        """What the camera took in green, each refusal on its own line in red."""
        lines = []
        if done:
            lines.append(f"<span style='color:{COLOURS.ok}'>✓ {escape('; '.join(done))}</span>")
        for why in refused:
            lines.append(f"<span style='color:{COLOURS.fail}'>✗ {escape(why)}</span>")
        self.message.setStyleSheet("")
        self.message.setText("<br>".join(lines))

    def _say(self, text: str, role: str) -> None:
        colour = {"ok": COLOURS.ok, "fail": COLOURS.fail, "warn": COLOURS.warn}.get(
            role, COLOURS.text
        )
        self.message.setStyleSheet(f"color: {colour};")
        self.message.setText(escape(text))
