"""The device panel: who the device is, what its slots hold, and the buttons to
flash, confirm or roll back, with a progress bar (KB/s, ETA, Cancel) and the
device's own log lines. It shows a :class:`TargetView` and :class:`JobProgress`
from ``session.poll()``; every button calls ``session.targets`` and returns.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from edgeconsole.session.targets import JobProgress, TargetView
from edgeconsole.ui.devices.format import (
    PHASE_TEXT,
    SLOT_COLOUR,
    STATE_COLOUR,
    STATE_TEXT,
    eta_text,
    rate_text,
    size_text,
)
from edgeconsole.ui.devices.panel_parts import (
    combo_row,
    field_form,
    fit_to_rows,
    log_view,
    progress_box,
    slots_table,
)
from edgeconsole.ui.devices.stock_panel import StockPanel
from edgeconsole.ui.session_port import TargetsPort
from edgeconsole.ui.theme import COLOURS

STOCK_LOG_HEIGHT = 90
#: Field labels per kind of target (a gateway has an address, an agent, cameras).
FIELD_LABELS = {
    "serial": {"url": "Port", "serial": "Serial number", "firmware": "Firmware"},
    "gateway": {"url": "Address", "serial": "Host", "firmware": "Agent"},
    "oip": {"url": "Address", "serial": "Host", "firmware": "Server"},
}
GATEWAY_FIELDS = ("health", "models", "cameras")
SERIAL_FIELDS = ("shadow",)
NO_CHECK_WARNING = (
    "Confirm the bundle on trial WITHOUT running its health check?\n\n"
    "The golden self-test proves the model gives the expected output within its "
    "latency budget. Without it, a broken bundle becomes the device's confirmed "
    "bundle; Rollback then returns to the previous one."
)


class DevicePanel(QWidget):
    def __init__(
        self,
        targets: TargetsPort,
        report: Callable[[str, str], None] | None = None,
        parent: QWidget | None = None,
        settings: QSettings | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("devicePanel")
        self.setAccessibleName("Device panel")
        self.targets = targets
        self._report = report or (lambda level, text: None)
        #: Called with (gateway URL, camera) by "Watch stream"; set by the window.
        self.on_watch: Callable[[str, int], None] | None = None
        #: Called with (server URL, model name) by "Infer the live source here".
        self.on_remote: Callable[[str, str], None] | None = None
        self.view: TargetView | None = None
        self.job: JobProgress | None = None
        self.bundle_dir = ""
        self._log_len = 0

        self.title = QLabel("No device selected")
        font = QFont(self.title.font())
        font.setPointSizeF(font.pointSizeF() * 1.35)
        font.setBold(True)
        self.title.setFont(font)
        self.state_label = QLabel("")
        self.state_label.setObjectName("deviceState")
        self.state_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.state_label.setMinimumWidth(160)
        head = QHBoxLayout()
        head.addWidget(self.title, 1)
        head.addWidget(self.state_label)

        self.error_label = QLabel("")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(f"color: {COLOURS.fail};")
        self.error_label.hide()

        self.form, self.fields = field_form(
            (
                ("url", "Port"),
                ("serial", "Serial number"),
                ("hw_id", "Hardware id"),
                ("firmware", "Firmware"),
                ("protocol", "Protocol"),
                ("health", "Health"),
                ("running", "Runs"),
                ("models", "Models"),
                ("cameras", "Cameras"),
                ("shadow", "Shadow run"),
            )
        )

        self.slots = slots_table()

        self.flash_button = QPushButton("Flash…")
        self.flash_button.setObjectName("flashButton")
        self.flash_button.setToolTip(
            "Upload a signed bundle into the inactive slot, activate it on trial and run "
            "its health check"
        )
        self.flash_button.clicked.connect(self.pick_and_flash)
        self.confirm_button = QToolButton()
        self.confirm_button.setObjectName("confirmButton")
        self.confirm_button.setText("Confirm")
        self.confirm_button.setToolTip("Run the health check, then keep the bundle on trial")
        self.confirm_button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        self.confirm_button.clicked.connect(self.confirm)
        menu = QMenu(self.confirm_button)
        self.no_check_action = menu.addAction("Confirm without health check…")
        self.no_check_action.triggered.connect(self.confirm_without_check)
        self.confirm_button.setMenu(menu)
        self.rollback_button = QPushButton("Rollback")
        self.rollback_button.setObjectName("rollbackButton")
        self.rollback_button.setToolTip("Leave the trial, or go back to the previous bundle")
        self.rollback_button.clicked.connect(self.rollback)
        self.camera_combo = QComboBox()
        self.camera_combo.setObjectName("gatewayCamera")
        self.camera_combo.setToolTip("The gateway's camera to watch")
        self.watch_button = QPushButton("Watch stream")
        self.watch_button.setObjectName("watchStreamButton")
        self.watch_button.setToolTip(
            "Show this camera's stream in the live view: the gateway's frames with its "
            "model's overlays, and its latency with the network hop (Stop ends it)"
        )
        self.watch_button.clicked.connect(self.watch)
        self.watch_box = combo_row(self.camera_combo, self.watch_button)
        self.model_combo = QComboBox()
        self.model_combo.setObjectName("remoteModel")
        self.model_combo.setToolTip("The server's model to send the laptop's frames to")
        self.remote_button = QPushButton("Infer the live source here")
        self.remote_button.setObjectName("remoteInferButton")
        self.remote_button.setToolTip(
            "Run the window's source and model with inference on this server: frames are "
            "preprocessed and decoded on the laptop, inferred over OIP (Stop ends it)"
        )
        self.remote_button.clicked.connect(self.infer_remote)
        self.remote_box = combo_row(self.model_combo, self.remote_button)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Read identity and slots again")
        self.refresh_button.clicked.connect(self.refresh)
        buttons = QHBoxLayout()
        for b in (self.flash_button, self.confirm_button, self.rollback_button):
            b.setMinimumHeight(32)
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.refresh_button)

        self.trial_hint = QLabel("")
        self.trial_hint.setObjectName("trialHint")
        self.trial_hint.setWordWrap(True)
        self.trial_hint.setStyleSheet(f"color: {COLOURS.warn};")
        self.trial_hint.hide()

        self.progress = QProgressBar()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelFlashButton")
        self.cancel_button.clicked.connect(self.cancel)
        self.progress_text = QLabel("")
        self.progress_box = progress_box(self.progress, self.cancel_button, self.progress_text)

        self.log = log_view("deviceLog", "The device's own log lines appear here")

        # A stock Zephyr/MCUboot device gets its own part (capabilities, images, files,
        # statistics, shell) in place of the bundle slots and their buttons.
        self.stock_panel = StockPanel(targets, self._report, settings)
        # In a scroll area: its tabs must never make the window taller than a laptop screen.
        self.stock_area = QScrollArea()
        self.stock_area.setObjectName("stockArea")
        self.stock_area.setWidget(self.stock_panel)
        self.stock_area.setWidgetResizable(True)
        self.stock_area.setFrameShape(QFrame.Shape.NoFrame)
        self.stock_area.hide()
        self.slots_title = QLabel("<b>Slots</b>")
        self.slot_buttons = QWidget()
        self.slot_buttons.setLayout(buttons)
        buttons.setContentsMargins(0, 0, 0, 0)

        layout = QVBoxLayout(self)
        layout.addLayout(head)
        layout.addWidget(self.error_label)
        layout.addLayout(self.form)
        layout.addWidget(self.slots_title)
        layout.addWidget(self.slots)
        layout.addWidget(self.slot_buttons)
        layout.addWidget(self.stock_area, 3)
        layout.addWidget(self.watch_box)
        layout.addWidget(self.remote_box)
        layout.addWidget(self.trial_hint)
        layout.addWidget(self.progress_box)
        layout.addWidget(QLabel("<b>Device log</b>"))
        layout.addWidget(self.log, 1)
        self._apply_buttons()

    # ---------------------------------------------------------------- showing
    def show_target(self, view: TargetView | None) -> None:
        new_device = view is None or self.view is None or view.url != self.view.url
        self.view = view
        if view is None:
            self.title.setText("No device selected")
            self.state_label.setText("")
            self.state_label.setStyleSheet("")
            for label in self.fields.values():
                label.setText("–")
            self.slots.setRowCount(0)
            self.log.clear()
            self._log_len = 0
            self.watch_box.hide()
            self.remote_box.hide()
            self.stock_area.hide()
            self._apply_buttons()
            return
        self.title.setText(view.name or ("Gateway" if view.kind != "serial" else "Serial device"))
        self._label_fields(view.kind)
        colour = STATE_COLOUR.get(view.state, COLOURS.text_dim)
        self.state_label.setText(STATE_TEXT.get(view.state, view.state))
        self.state_label.setStyleSheet(
            f"QLabel {{ color: {COLOURS.window}; background: {colour}; border-radius: 4px;"
            " padding: 3px 10px; font-weight: bold; }"
        )
        self.error_label.setText(view.error)
        self.error_label.setVisible(bool(view.error) and view.state != "connected")
        f = self.fields
        f["url"].setText(view.url)
        f["serial"].setText(view.serial or "–")
        f["hw_id"].setText(view.hw_id or "–")
        f["firmware"].setText(view.firmware or "–")
        if view.kind == "gateway":
            protocol = "HTTP · OIP v2 + EdgeConsole agent"
        elif view.kind == "oip":
            protocol = "HTTP · OIP v2 (no slots)"
        elif view.stock is not None:
            protocol = "SMP (MCUmgr standard groups; no EdgeConsole firmware)"
        else:
            protocol = "SMP (MCUmgr)" if view.smp else "plain text lines: telemetry only"
        if view.disconnects:
            lost = "link loss(es)" if view.kind != "serial" else "unplug(s)"
            protocol += f"  ·  {view.disconnects} {lost} so far"
        f["protocol"].setText(protocol)
        f["health"].setText(view.health or "–")
        healthy = view.health.startswith("live, ready")
        f["health"].setStyleSheet(
            f"color: {COLOURS.ok if healthy else COLOURS.warn};" if view.health else ""
        )
        f["models"].setText("\n".join(view.models) or "–")
        f["cameras"].setText("\n".join(view.cameras) or "none")
        self._show_cameras(view)
        self._show_models(view)
        running = view.running
        f["running"].setText(
            f"{running.bundle_id} v{running.version} (slot {running.index}, {running.state})"
            if running
            else "–"
        )
        f["shadow"].setText(view.shadow or "–")
        self._show_stock(view)
        self._show_slots(view)
        self._show_log(view, new_device)
        self._apply_buttons()

    def _show_stock(self, view: TargetView) -> None:
        stock = view.stock is not None
        for w in (self.slots_title, self.slots, self.slot_buttons):
            w.setVisible(not stock)
        self.form.setRowVisible(self.fields["shadow"], not stock and view.kind == "serial")
        self.stock_area.setVisible(stock)
        # A stock device's log is its boot banner and the odd line: the tabs need the room.
        self.log.setMaximumHeight(STOCK_LOG_HEIGHT if stock else 16_777_215)
        if view.stock is not None:
            running = view.stock.running
            self.fields["running"].setText(
                f"firmware {running.version} (slot {running.slot}, "
                f"{'confirmed' if running.confirmed else 'ON TEST'})"
                if running
                else "–"
            )
            self.stock_panel.show_view(view, busy=bool(view.busy))

    def _label_fields(self, kind: str) -> None:
        labels = FIELD_LABELS.get(kind, FIELD_LABELS["serial"])
        for key, text in labels.items():
            label = self.form.labelForField(self.fields[key])
            if isinstance(label, QLabel):
                label.setText(text + ":")
        network = kind != "serial"
        for key in GATEWAY_FIELDS:
            self.form.setRowVisible(self.fields[key], network)
        for key in SERIAL_FIELDS:
            self.form.setRowVisible(self.fields[key], not network)

    def _show_cameras(self, view: TargetView) -> None:
        watchable = view.kind == "gateway" and bool(view.cameras)
        self.watch_box.setVisible(watchable)
        if not watchable:
            return
        texts = [f"Camera {c}" for c in view.cameras]
        current = [self.camera_combo.itemText(i) for i in range(self.camera_combo.count())]
        if [t.split(" · ")[0] for t in texts] != [t.split(" · ")[0] for t in current]:
            keep = self.camera_combo.currentIndex()
            self.camera_combo.clear()
            for i, text in enumerate(texts):
                self.camera_combo.addItem(text.split(" · ")[0], i)
            self.camera_combo.setCurrentIndex(max(0, min(keep, len(texts) - 1)))
        self.watch_button.setEnabled(view.state == "connected" and self.on_watch is not None)

    def _show_models(self, view: TargetView) -> None:
        usable = view.kind == "oip" and bool(view.models)
        self.remote_box.setVisible(usable)
        if not usable:
            return
        names = [m.split(" ", 1)[0] for m in view.models]
        if names != [self.model_combo.itemText(i) for i in range(self.model_combo.count())]:
            keep = self.model_combo.currentText()
            self.model_combo.clear()
            self.model_combo.addItems(names)
            if keep in names:
                self.model_combo.setCurrentText(keep)
        self.remote_button.setEnabled(view.state == "connected" and self.on_remote is not None)

    def infer_remote(self) -> None:
        view = self.view
        name = self.model_combo.currentText()
        if view is None or self.on_remote is None or not name:
            return
        on_remote = self.on_remote
        self._call("infer on the server", lambda: on_remote(view.url, name))

    def watch(self) -> None:
        view = self.view
        if view is None or self.on_watch is None:
            return
        camera = self.camera_combo.currentData()
        on_watch = self.on_watch
        self._call("watch the stream", lambda: on_watch(view.url, int(camera or 0)))

    def _show_slots(self, view: TargetView) -> None:
        self.slots.setRowCount(len(view.slots))
        for r, s in enumerate(view.slots):
            state = f"{s.state} ({s.attempts} left)" if s.state == "trial" else s.state
            runs = "▶ running" if s.running else ("confirmed" if s.confirmed else "")
            cells = (
                str(s.index),
                state,
                runs,
                s.bundle_id or "–",
                str(s.version) if s.bundle_id else "–",
                s.sha256[:10] + "…" if s.sha256 else "–",
                size_text(s.length) if s.length else "–",
            )
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c == 1:
                    item.setForeground(QColor(SLOT_COLOUR.get(s.state, COLOURS.text)))
                if c == 5 and s.sha256:
                    item.setToolTip(s.sha256)
                if s.running:
                    f = item.font()
                    f.setBold(True)
                    item.setFont(f)
                self.slots.setItem(r, c, item)
        fit_to_rows(self.slots)

    def _show_log(self, view: TargetView, new_device: bool) -> None:
        if new_device or view.log_total < self._log_len:
            self.log.clear()
            self._log_len = 0
        fresh = view.log_total - self._log_len
        if fresh <= 0:
            return
        # The view carries the newest lines only; append the ones not shown yet.
        for line in view.log[-min(fresh, len(view.log)) :] if view.log else ():
            self.log.appendPlainText(line)
        self._log_len = view.log_total

    def show_job(self, job: JobProgress) -> None:
        if self.view is None or job.url != self.view.url:
            return
        self.job = job
        self.progress_box.show()
        phase = PHASE_TEXT.get(job.phase, job.phase)
        if job.state == "running":
            self.progress.setValue(int(1000 * job.fraction))
            if job.phase == "upload" and job.total:
                self.progress.setFormat(f"{job.fraction * 100:.1f} %")
                text = (
                    f"{phase} {job.bundle}: {size_text(job.sent)} of {size_text(job.total)}"
                    f"  ·  {rate_text(job.bytes_per_s)}  ·  {eta_text(job.eta_s)}"
                )
                if job.resumes:
                    text += f"  ·  resumed {job.resumes}×"
            else:
                self.progress.setFormat(phase)
                text = f"{job.kind.capitalize()}: {phase}" + (
                    f" ({job.bundle})" if job.bundle else ""
                )
            self.progress_text.setStyleSheet("")
        else:
            self.progress.setValue(1000 if job.state == "done" else self.progress.value())
            self.progress.setFormat(
                {"done": "Done", "failed": "Failed"}.get(job.state, "Cancelled")
            )
            colour = {"done": COLOURS.ok, "failed": COLOURS.fail}.get(job.state, COLOURS.warn)
            self.progress_text.setStyleSheet(f"color: {colour};")
            text = f"{job.kind.capitalize()} {job.state}: {job.message}"
        self.progress_text.setText(text)
        self.cancel_button.setVisible(job.state == "running")
        self.cancel_button.setEnabled(job.cancellable)
        self._apply_buttons()

    def _apply_buttons(self) -> None:
        v = self.view
        ready = v is not None and v.state == "connected" and v.smp and not v.busy
        self.flash_button.setEnabled(ready)
        trial = v.trial if v is not None else None
        self.confirm_button.setEnabled(ready and trial is not None)
        others = [s for s in v.slots if s.bundle_id and not s.running] if v else []
        self.rollback_button.setEnabled(ready and (trial is not None or bool(others)))
        self.refresh_button.setEnabled(ready)
        back = next((s for s in v.slots if s.confirmed and not s.running), None) if v else None
        if v is not None and v.stock is not None:
            trial = None  # the stock part says it in MCUboot's words
        if trial is not None:
            self.trial_hint.setText(
                f"{trial.bundle_id} v{trial.version} is on trial: Confirm keeps it"
                + (f"; Rollback returns to {back.bundle_id} v{back.version}." if back else ".")
            )
        self.trial_hint.setVisible(trial is not None)

    # --------------------------------------------------------------- commands
    def _call(self, doing: str, fn: Callable[[], object]) -> None:
        try:
            fn()
        except Exception as exc:
            self._report("error", f"Could not {doing}: {exc}")

    def pick_and_flash(self) -> None:
        if self.view is None:
            return
        start = self.bundle_dir or str(Path.home())
        path, _ = QFileDialog.getOpenFileName(
            self, "Flash a bundle", start, "EdgeConsole bundles (*.ecb);;All files (*)"
        )
        if path:
            self.flash(path)

    def flash(self, path: str) -> None:
        view = self.view
        if view is None:
            return
        self.bundle_dir = str(Path(path).parent)
        self.progress.setValue(0)
        self._call("flash", lambda: self.targets.flash(view.url, path))

    def confirm(self) -> None:
        view = self.view
        if view is not None:
            self._call("confirm", lambda: self.targets.confirm(view.url, health_check=True))

    def confirm_without_check(self) -> None:
        view = self.view
        if view is None:
            return
        answer = QMessageBox.warning(
            self,
            "Confirm without health check",
            NO_CHECK_WARNING,
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer == QMessageBox.StandardButton.Yes:
            self._call("confirm", lambda: self.targets.confirm(view.url, health_check=False))

    def rollback(self) -> None:
        view = self.view
        if view is not None:
            self._call("roll back", lambda: self.targets.rollback(view.url))

    def refresh(self) -> None:
        view = self.view
        if view is not None:
            self._call("refresh", lambda: self.targets.refresh(view.url))

    def cancel(self) -> None:
        job = self.job
        if job is not None and job.state == "running":
            self._call("cancel", lambda: self.targets.cancel(job.job_id))
