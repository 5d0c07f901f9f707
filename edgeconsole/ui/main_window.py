"""The main window: targets on the left, live view in the middle, latency on the right.

It only shows what ``session.poll()`` returns and sends the person's commands
back to the session. Opening a source or a model happens on the session's own
thread; here it shows as a busy bar with Cancel while the state is "opening".
Nothing that goes wrong in a source or model may take the window down: errors
arrive as events and land in the message bar and the event log.
"""

from __future__ import annotations

import traceback
from collections import deque
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QFileDialog,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

import edgeconsole
from edgeconsole.core.clock import now_ns, wall_iso
from edgeconsole.session.api import LatencySnapshot, TriggerLine
from edgeconsole.session.session import default_demo_model
from edgeconsole.session.update import Event, PipelineStatus, Update
from edgeconsole.ui.budget_spin import FOLLOW_MODEL, BudgetSpinBox
from edgeconsole.ui.devices.mount import mount_devices
from edgeconsole.ui.latency_panel import LatencyPanel
from edgeconsole.ui.live_view import IDLE_PLACEHOLDER, LiveView
from edgeconsole.ui.messages import BusyBar, EventLog, MessageBar
from edgeconsole.ui.poll_loop import PollLoop
from edgeconsole.ui.session_port import SessionPort
from edgeconsole.ui.settings import WindowSettings
from edgeconsole.ui.status_panel import StatusPanel, model_label, source_label
from edgeconsole.ui.targets_panel import SYNTHETIC_CONVEYOR, TargetsPanel
from edgeconsole.ui.trigger_menu import TriggerControl
from edgeconsole.ui.workspaces import mount_workspaces

ACTIVE_STATES = frozenset({"opening", "running", "reconnecting"})
IDLE_STATES = frozenset({"idle", "stopped", "error"})
#: Stats change slowly to the eye; the table and histogram redraw at most this often.
STATS_INTERVAL_NS = 250_000_000
#: The stage chart follows new samples at most this often (10 Hz looks live).
CHART_INTERVAL_NS = 100_000_000
MAX_EVENTS_PER_TICK = 50
#: What the live view says while it has no frame to show.
PLACEHOLDERS = {
    "opening": "Opening the source and loading the model…",
    "error": "Not running: see the message above. Fix the source or model, then press F5.",
    "reconnecting": "Source lost: reconnecting…",
}


def sample_models_dir() -> Path:
    return Path(edgeconsole.__file__).resolve().parent.parent / "sample_models"


def find_sample_models() -> list[Path]:
    root = sample_models_dir()
    if not root.is_dir():
        return []
    return sorted(p.parent for p in root.glob("*/model.json"))


def default_model() -> str:
    preferred = default_demo_model()  # the fast inspector; the others stay selectable
    if (preferred / "model.json").is_file():
        return str(preferred)
    found = find_sample_models()
    return str(found[0]) if found else ""


class MainWindow(QMainWindow):
    def __init__(
        self, session: SessionPort, settings: QSettings, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.settings = WindowSettings(settings)
        self.setWindowTitle(f"EdgeConsole {edgeconsole.__version__}")
        self.setObjectName("mainWindow")
        self.setDockNestingEnabled(True)

        self.status = PipelineStatus()
        self._source = self.settings.source or SYNTHETIC_CONVEYOR
        self._model = self.settings.model or default_model()
        # Until the person sets one, each model's own budget applies.
        self._budget_auto = self.settings.budget_follows_model
        self._budget: float | None = None if self._budget_auto else self.settings.budget_ms
        self._pending_events: deque[Event] = deque()
        self._pending_restart = False
        # Not 0: the monotonic clock counts from boot, so on a machine up for less than
        # an interval the first chart or stats draw would wait (CI machines are fresh).
        self._last_stats_ns = -(1 << 62)
        self._last_chart_ns = -(1 << 62)
        self._stats: LatencySnapshot | None = None
        self._stats_new = False
        self.chart_interval_ns = CHART_INTERVAL_NS
        self.stats_interval_ns = STATS_INTERVAL_NS
        self._last_error_shown = ""
        self.targets_refreshed = 0
        self._layout_restored = False
        self._default_layout_done = False

        self._build_central()
        self._build_docks()
        self._build_actions()
        self._build_toolbar()
        self._build_menus()
        self._mount_trigger()
        self.status_panel = StatusPanel(self.statusBar())
        self.bundles_panel: Any = None
        self.record_action: Any = None
        self.workspaces = mount_workspaces(self)
        self.devices = mount_devices(self)  # serial devices: tree rows, panel, telemetry
        self.status_panel.set_budget(self._budget)
        self.latency.set_budget(self._budget)
        self._restore_geometry()
        self._apply_state("idle")

        self.live_view.on_shown = self._on_frame_shown
        self.live_view.on_line_moved = self._on_line_moved
        self._call("trigger", self.session.set_trigger, self.settings.trigger)
        self.targets.source_activated.connect(self.choose_source)
        self.busy.cancel_requested.connect(self.cancel)

        self.poll_loop = PollLoop(self._tick, parent=self)
        self.poll_loop.start()
        # Probing cameras may take a moment; let the window appear first.
        QTimer.singleShot(0, self.refresh_targets)

    # ------------------------------------------------------------------ build
    def _build_central(self) -> None:
        self.message_bar = MessageBar()
        self.busy = BusyBar()
        self.live_view = LiveView()
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.message_bar)
        layout.addWidget(self.busy)
        layout.addWidget(self.live_view, 1)
        self.setCentralWidget(central)

    def _dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)  # saveState() needs stable names
        dock.setWidget(widget)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
        )
        self.addDockWidget(area, dock)
        return dock

    def _build_docks(self) -> None:
        self.targets = TargetsPanel()
        self.latency = LatencyPanel()
        self.event_log = EventLog()
        self.targets_dock = self._dock(
            "Targets", "targetsDock", self.targets, Qt.DockWidgetArea.LeftDockWidgetArea
        )
        # Left docks run full height; latency sits under the live view so a
        # 16:9 camera image gets the width it needs.
        self.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.setCorner(Qt.Corner.TopLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.latency_dock = self._dock(
            "Latency", "latencyDock", self.latency, Qt.DockWidgetArea.BottomDockWidgetArea
        )
        self.latency_dock.dockLocationChanged.connect(self._on_latency_dock_moved)
        self.latency.set_orientation(Qt.Orientation.Horizontal)
        self.log_dock = self._dock(
            "Event log", "logDock", self.event_log, Qt.DockWidgetArea.LeftDockWidgetArea
        )
        self.splitDockWidget(self.targets_dock, self.log_dock, Qt.Orientation.Vertical)

    def _on_latency_dock_moved(self, area: Qt.DockWidgetArea) -> None:
        side = area in (Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea)
        self.latency.set_orientation(Qt.Orientation.Vertical if side else Qt.Orientation.Horizontal)

    def _action(
        self, text: str, slot: object, shortcuts: list[str] | None = None, tip: str = ""
    ) -> QAction:
        action = QAction(text, self)
        keys = [QKeySequence(s) for s in shortcuts or []]
        if keys:
            action.setShortcuts(keys)
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        shown = ", ".join(k.toString(QKeySequence.SequenceFormat.NativeText) for k in keys)
        base = tip or text.replace("&", "").rstrip("…")
        action.setToolTip(f"{base} ({shown})" if shown else base)
        action.setStatusTip(base)
        action.triggered.connect(slot)
        self.addAction(action)  # shortcuts work even with the toolbar hidden (fullscreen)
        return action

    def _build_actions(self) -> None:
        self.start_action = self._action("▶  Start", self.start, ["F5"], "Start the live pipeline")
        self.stop_action = self._action(
            "■  Stop",
            self.stop_or_cancel,
            ["Shift+F5", "Esc"],
            "Stop the pipeline, or cancel opening",
        )
        self.cancel_action = self._action(
            "Cancel opening", self.cancel, [], "Cancel opening the source / loading the model"
        )
        self.source_action = self._action(
            "Open source…", self.show_source_menu, ["Ctrl+O"], "Choose a video source"
        )
        self.file_action = self._action("Video file…", self.pick_video_file)
        self.folder_action = self._action("Image folder…", self.pick_image_folder)
        self.url_action = self._action(
            "Stream URL…", self.pick_url, tip="An RTSP or HTTP stream URL"
        )
        self.synthetic_action = self._action(
            "Synthetic conveyor",
            lambda: self.choose_source(SYNTHETIC_CONVEYOR),
            tip="The generated demo scene",
        )
        self.model_action = self._action(
            "Open model…",
            self.pick_model_file,
            ["Ctrl+M"],
            "Choose a model description (model.json)",
        )
        self.budget_action = self._action(
            "Latency budget", self.focus_budget, ["Ctrl+B"], "Set the end-to-end latency budget"
        )
        self.fullscreen_action = self._action("Full screen", self.toggle_fullscreen, ["F11"])
        self.fullscreen_action.setCheckable(True)
        self.quit_action = self._action("Quit", self.close, ["Ctrl+Q"])
        self.refresh_action = self._action(
            "Refresh targets", self.refresh_targets, ["F6"], "Look for cameras again"
        )
        self.shortcuts_action = self._action("Keyboard shortcuts", self.show_shortcuts, ["F1"])

    def _build_toolbar(self) -> None:
        tb = self.addToolBar("Run")
        tb.setObjectName("runToolbar")
        tb.setMovable(False)
        tb.addAction(self.start_action)
        tb.widgetForAction(self.start_action).setObjectName("startButton")
        tb.addAction(self.stop_action)
        tb.widgetForAction(self.stop_action).setObjectName("stopButton")
        tb.addSeparator()

        tb.addWidget(QLabel(" Source "))
        self.source_combo = QComboBox()
        self.source_combo.setMinimumContentsLength(16)
        self.source_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.source_combo.setToolTip("Recent sources (Ctrl+O for more)")
        self.source_combo.activated.connect(self._on_source_combo)
        tb.addWidget(self.source_combo)
        self.source_menu = QMenu("Source", self)
        self.source_button = QToolButton()
        # Short toolbar text (next to its labelled combo); menus keep the long one.
        self.source_action.setIconText("Open…")
        self.model_action.setIconText("Open…")
        self.source_button.setDefaultAction(self.source_action)
        self.source_button.setMenu(self.source_menu)
        self.source_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        tb.addWidget(self.source_button)
        tb.addSeparator()

        tb.addWidget(QLabel(" Model "))
        self.model_combo = QComboBox()
        self.model_combo.setMinimumContentsLength(12)
        self.model_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.model_combo.setToolTip("Sample and recent models (Ctrl+M to browse)")
        self.model_combo.activated.connect(self._on_model_combo)
        tb.addWidget(self.model_combo)
        tb.addAction(self.model_action)
        tb.addSeparator()

        tb.addWidget(QLabel(" Budget "))
        self.budget_spin = BudgetSpinBox()
        self.budget_spin.setValue(FOLLOW_MODEL if self._budget_auto else (self._budget or 0.0))
        self.budget_spin.valueChanged.connect(self._on_budget_changed)
        tb.addWidget(self.budget_spin)
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        tb.addSeparator()
        self._toolbar_spacer = tb.addWidget(spacer)
        self.toolbar = tb
        self._refresh_source_combo()
        self._refresh_model_combo()

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.source_action)
        file_menu.addAction(self.model_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        run_menu = bar.addMenu("&Run")
        for a in (self.start_action, self.stop_action, self.cancel_action, self.budget_action):
            run_menu.addAction(a)
        self.run_menu = run_menu
        view_menu = bar.addMenu("&View")
        for dock in (self.targets_dock, self.latency_dock, self.log_dock):
            view_menu.addAction(dock.toggleViewAction())
        view_menu.addSeparator()
        view_menu.addAction(self.refresh_action)
        view_menu.addAction(self.fullscreen_action)
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.shortcuts_action)
        help_menu.addAction(self._action("&About EdgeConsole", self.show_about))
        for menu in (file_menu, run_menu, view_menu, help_menu):
            menu.setToolTipsVisible(True)
        self._rebuild_source_menu([])

    def _mount_trigger(self) -> None:
        """What decides a part: a toolbar button and the Run menu's submenu (Ctrl+T)."""
        self.trigger_control = TriggerControl(
            self,
            self.settings,
            lambda cfg: self._call("set the trigger", self.session.set_trigger, cfg),
            self._report,
        )
        self.toolbar.insertWidget(self._toolbar_spacer, self.trigger_control.button)
        self.run_menu.addSeparator()
        self.run_menu.addMenu(self.trigger_control.menu)

    def _rebuild_source_menu(self, cameras: list[dict[str, object]]) -> None:
        m = self.source_menu
        m.clear()
        m.setToolTipsVisible(True)
        m.addAction(self.file_action)
        m.addAction(self.folder_action)
        m.addAction(self.url_action)
        m.addSeparator()
        if cameras:
            for cam in cameras:
                index = int(str(cam.get("index", 0)))
                name = str(cam.get("name") or "")
                act = m.addAction(f"Camera {index}" + (f": {name}" if name else ""))
                act.triggered.connect(lambda _=False, i=index: self.choose_source(f"camera:{i}"))
        else:
            none = m.addAction("No cameras found")
            none.setEnabled(False)
        m.addSeparator()
        m.addAction(self.synthetic_action)

    # --------------------------------------------------------------- settings
    def _restore_geometry(self) -> None:
        geometry = self.settings.geometry()
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            screen = self.screen().availableGeometry() if self.screen() else None
            if screen is not None and screen.width() < 1600:
                self.resize(int(screen.width() * 0.95), int(screen.height() * 0.92))
            else:
                self.resize(1600, 1000)
        state = self.settings.window_state()
        self._layout_restored = state is not None and self.restoreState(state)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._layout_restored and not self._default_layout_done:
            self._default_layout_done = True
            self.apply_default_layout()

    def apply_default_layout(self) -> None:
        """Dock sizes in proportion to the window: the live view keeps most of it."""
        w, h = self.width(), self.height()
        self.resizeDocks([self.targets_dock], [max(260, int(w * 0.18))], Qt.Orientation.Horizontal)
        self.resizeDocks([self.latency_dock], [max(250, int(h * 0.36))], Qt.Orientation.Vertical)

    def save_settings(self) -> None:
        self.settings.save_window(self.saveGeometry(), self.saveState())
        self.settings.sync()

    # ------------------------------------------------------------- properties
    @property
    def source(self) -> str:
        return self._source

    @property
    def model(self) -> str:
        return self._model

    @property
    def budget_ms(self) -> float | None:
        return self._budget

    # ---------------------------------------------------------------- choices
    def _refresh_source_combo(self) -> None:
        specs = [self._source, *[s for s in self.settings.recent_sources if s != self._source]]
        if SYNTHETIC_CONVEYOR not in specs:
            specs.append(SYNTHETIC_CONVEYOR)
        self.source_combo.blockSignals(True)
        self.source_combo.clear()
        for spec in specs:
            self.source_combo.addItem(source_label(spec), spec)
            self.source_combo.setItemData(
                self.source_combo.count() - 1, spec, Qt.ItemDataRole.ToolTipRole
            )
        self.source_combo.setCurrentIndex(0)
        self.source_combo.blockSignals(False)

    def _refresh_model_combo(self) -> None:
        paths = [self._model] if self._model else []
        paths += [m for m in self.settings.recent_models if m not in paths]
        paths += [str(p) for p in find_sample_models() if str(p) not in paths]
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        for path in paths:
            self.model_combo.addItem(model_label(path), path)
            self.model_combo.setItemData(
                self.model_combo.count() - 1, path, Qt.ItemDataRole.ToolTipRole
            )
        if not paths:
            self.model_combo.addItem("(choose a model)", "")
        self.model_combo.setCurrentIndex(0)
        self.model_combo.blockSignals(False)

    def _on_source_combo(self, index: int) -> None:
        spec = self.source_combo.itemData(index)
        if spec:
            self.choose_source(str(spec))

    def _on_model_combo(self, index: int) -> None:
        path = self.model_combo.itemData(index)
        if path:
            self.choose_model(str(path))

    def choose_source(self, spec: str) -> None:
        spec = spec.strip()
        if not spec:
            return
        self._source = spec
        self.settings.source = spec
        self._refresh_source_combo()
        self._restart_if_running()

    def choose_model(self, path: str) -> None:
        path = path.strip()
        if not path:
            return
        self._model = path
        self.settings.model = path
        self._refresh_model_combo()
        self._restart_if_running()

    def _restart_if_running(self) -> None:
        # Switching source or model while live restarts once the session stopped.
        if self.status.state in ACTIVE_STATES:
            self._pending_restart = True
            self.session.stop()

    def show_source_menu(self) -> None:
        pos = self.source_button.mapToGlobal(self.source_button.rect().bottomLeft())
        self.source_menu.popup(pos)

    def _dialog_dir(self) -> str:
        current = Path(self._source)
        return str(current.parent) if current.parent.is_dir() else str(Path.home())

    def pick_video_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Open a video file",
            self._dialog_dir(),
            "Video files (*.mp4 *.avi *.mkv *.mov *.m4v *.webm *.mjpg);;All files (*)",
        )
        if path:
            self.choose_source(path)

    def pick_image_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open an image folder", self._dialog_dir())
        if path:
            self.choose_source(path)

    def pick_url(self) -> None:
        current = self._source if "://" in self._source else "rtsp://"
        url, ok = QInputDialog.getText(self, "Stream URL", "RTSP or HTTP stream URL:", text=current)
        if ok and url.strip():
            self.choose_source(url.strip())

    def pick_model_file(self) -> None:
        start = self._model if self._model else str(sample_models_dir())
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Choose a model description",
            start,
            "Model description (model.json *.json);;All files (*)",
        )
        if path:
            self.choose_model(path)

    def focus_budget(self) -> None:
        self.budget_spin.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.budget_spin.selectAll()

    def _on_budget_changed(self, value: float) -> None:
        if value < 0:
            # Back to the model's own budget: it applies from the next start.
            self._budget_auto = True
            self.settings.follow_model_budget()
            return
        budget = value if value > 0 else None
        self._budget_auto = False
        self._budget = budget
        self.settings.budget_ms = budget
        self.latency.set_budget(budget)
        self.status_panel.set_budget(budget)
        self._call("set the latency budget", self.session.set_budget, budget)

    def set_budget(self, ms: float | None) -> None:
        self.budget_spin.setValue(ms or 0.0)

    def follow_model_budget(self) -> None:
        self.budget_spin.setValue(FOLLOW_MODEL)

    @property
    def budget_follows_model(self) -> bool:
        return self._budget_auto

    # ------------------------------------------------------------- commands
    def _call(self, doing: str, fn: object, *args: object, **kwargs: object) -> bool:
        """Run a session command; a failure becomes a message, never a crash."""
        try:
            fn(*args, **kwargs)  # type: ignore[operator]
        except Exception as exc:
            self._report(
                Event(
                    level="error", text=f"Could not {doing}: {exc}", kind="ui", wall_time=wall_iso()
                )
            )
            return False
        return True

    def start(self) -> None:
        if self.status.state in ACTIVE_STATES or self.status.state == "stopping":
            return
        if not self._model:
            self._report(
                Event(
                    level="warning",
                    kind="ui",
                    wall_time=wall_iso(),
                    text="No model chosen: pick one with Ctrl+M, then press F5.",
                )
            )
            return
        self.message_bar.dismiss()
        self.latency.reset()
        self._stats = None
        self.live_view.clear()
        if self._call(
            "start",
            self.session.start_local,
            self._source,
            self._model,
            budget_ms=None if self._budget_auto else self._budget,
            realtime=True,
            loop=True,
            model_budget=self._budget_auto,
        ):
            # Show "opening" at once; the next poll confirms it.
            self.status = replace(self.status, state="opening", error=None)
            self.status_panel.apply(self.status)
            self._apply_state("opening")

    def _on_line_moved(self, axis: int, fraction: float) -> None:
        """The trigger line was dragged: the running line follows, the place is kept."""
        current = self.settings.trigger
        orientation: Literal["vertical", "horizontal"] = "vertical" if axis == 0 else "horizontal"
        moved = current.with_line(TriggerLine(orientation, round(fraction, 4)))
        self.settings.trigger = moved
        self._call("trigger", self.session.set_trigger, moved)
        self.trigger_control.refresh()
        self._report(
            Event(
                level="info",
                kind="ui",
                wall_time=wall_iso(),
                text=f"trigger line moved to {moved.line.describe()} (kept for the next run)",
            )
        )

    def start_demo(self) -> None:
        """What ``edgeconsole demo`` does: the synthetic conveyor with the fast inspector,
        and the demo's virtual PLC answered with each part's decision."""
        self._source = SYNTHETIC_CONVEYOR
        self._refresh_source_combo()
        model = default_model()
        if model:
            self._model = model
            self._refresh_model_combo()
        self.start()  # first, so the device's telemetry tab does not take the front
        if self.devices is not None:
            self.devices.start_demo()  # the virtual serial device, connected and streaming
        self._start_demo_plc()

    def _start_demo_plc(self) -> None:
        from edgeconsole.session.demo_plc import start_demo_plc

        try:
            start_demo_plc(self.session, background=True)
        except Exception as exc:  # the demo goes on without its PLC, and says why
            self._report(
                Event(level="error", kind="plc", wall_time=wall_iso(), text=f"demo PLC: {exc}")
            )

    def stop(self) -> None:
        self._pending_restart = False
        if self.status.state == "opening":
            self.cancel()
            return
        if self.status.state in ACTIVE_STATES:
            self._call("stop", self.session.stop)

    def cancel(self) -> None:
        self._pending_restart = False
        self._call("cancel", self.session.cancel)

    def stop_or_cancel(self) -> None:
        self.stop()

    def toggle_fullscreen(self) -> None:
        if self.isFullScreen():
            self.showNormal()
        else:
            self.showFullScreen()
        self.fullscreen_action.setChecked(self.isFullScreen())

    def refresh_targets(self) -> None:
        try:
            cameras = self.session.list_cameras()
        except Exception as exc:
            cameras = []
            self._report(
                Event(
                    level="warning",
                    kind="targets",
                    wall_time=wall_iso(),
                    text=f"Could not list cameras: {exc}",
                )
            )
        self.targets.set_cameras(cameras)
        self._rebuild_source_menu(cameras)
        self.targets_refreshed += 1

    def show_shortcuts(self) -> None:
        lines = []
        for a in self.actions():
            keys = ", ".join(
                k.toString(QKeySequence.SequenceFormat.NativeText) for k in a.shortcuts()
            )
            if keys:
                lines.append(f"<tr><td><b>{keys}</b></td><td>{a.text().strip('▶■ ')}</td></tr>")
        box = QMessageBox(self)
        box.setWindowTitle("Keyboard shortcuts")
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setText("<table cellspacing='6'>" + "".join(lines) + "</table>")
        box.open()

    # --------------------------------------------------------------- polling
    def _on_frame_shown(self, frame_index: int, shown_ns: int) -> None:
        try:
            self.session.mark_shown(frame_index, shown_ns)
        except Exception as exc:
            self._report(
                Event(
                    level="warning",
                    kind="ui",
                    wall_time=wall_iso(),
                    text=f"Could not stamp frame {frame_index} as shown: {exc}",
                )
            )

    def _tick(self, deadline_ns: int) -> None:
        try:
            update = self.session.poll()
        except Exception as exc:
            self._report_once(f"Reading the session failed: {exc}")
            return
        try:
            self.apply_update(update, deadline_ns)
        except Exception:
            self._report_once("Display error: " + traceback.format_exc(limit=3).strip())

    def _report_once(self, text: str) -> None:
        if text != self._last_error_shown:
            self._last_error_shown = text
            self._report(Event(level="error", text=text, kind="ui", wall_time=wall_iso()))

    def apply_update(self, update: Update, deadline_ns: int | None = None) -> None:
        """Apply one poll() batch; drawing that does not fit the deadline waits a tick."""
        if deadline_ns is None:
            deadline_ns = now_ns() + 12_000_000
        # Events before status: the error event explains the "error" state, and
        # the status line is only a fallback when no event said it.
        self._pending_events.extend(update.events)
        for _ in range(min(len(self._pending_events), MAX_EVENTS_PER_TICK)):
            self._report(self._pending_events.popleft())
        self._apply_status(update.status)
        if update.camera_setup:
            panel = self.workspaces.panels.get("Camera")
            if panel is not None and hasattr(panel, "apply_results"):
                panel.apply_results(update.camera_setup)
        plc_panel = self.workspaces.panels.get("PLC")
        if plc_panel is not None and hasattr(plc_panel, "apply"):
            plc_panel.apply(update.plc)  # None: nothing runs (or it could not connect)
        if update.live is not None:
            self.live_view.show_frame(update.live)
        self.latency.add_samples(update.latency)
        self.latency.add_decisions(update.parts)
        if self.devices is not None:
            self.devices.apply(update, deadline_ns)
        if update.stats is not None:
            self._stats = update.stats
            self._stats_new = True
        # pyqtgraph repaints cost milliseconds of Python on the UI thread; a
        # fast model would otherwise redraw at the full tick rate.
        t = now_ns()
        if (
            self.latency.dirty
            and t < deadline_ns
            and t - self._last_chart_ns >= self.chart_interval_ns
            and self._latency_on_screen()
        ):
            self._last_chart_ns = t
            self.latency.redraw()
        t = now_ns()
        if (
            self._stats is not None
            and self._stats_new
            and t - self._last_stats_ns >= self.stats_interval_ns
            and t < deadline_ns
            and self._latency_on_screen()
        ):
            self._last_stats_ns = t
            self._stats_new = False
            self.latency.apply_stats(self._stats)

    def _latency_on_screen(self) -> bool:
        """A closed dock, or one tabbed behind another, is not drawn; its samples wait
        (dirty) and are drawn on the first tick it is seen again."""
        panel = self.latency
        return panel.isVisible() and not panel.visibleRegion().isEmpty()

    def _apply_status(self, status: PipelineStatus) -> None:
        previous = self.status.state
        previous_budget = self.status.budget_ms
        self.status = status
        self.status_panel.apply(status)
        self.latency.apply_camera(status.camera)
        self.latency.set_parts_mode(status.mode == "parts")
        # The session's budget is the truth (a model may bring its own).
        if status.budget_ms != previous_budget and status.state != "idle":
            self.latency.set_budget(status.budget_ms)
            if self._budget_auto:
                self._budget = status.budget_ms
                self.budget_spin.set_model_budget(status.budget_ms)
        if status.state != previous:
            self._apply_state(status.state)
            if (
                status.state == "error"
                and status.error
                and not self.message_bar.is_showing(status.error)
                and not any(e.text == status.error for e in self._pending_events)
            ):
                self._report(
                    Event(level="error", text=status.error, kind="pipeline", wall_time=wall_iso()),
                    log=False,
                )
            if status.state in IDLE_STATES and self._pending_restart:
                self._pending_restart = False
                self.start()

    def _apply_state(self, state: str) -> None:
        active = state in ACTIVE_STATES
        self.start_action.setEnabled(state in IDLE_STATES)
        self.stop_action.setEnabled(active)
        self.cancel_action.setEnabled(state == "opening")
        if state == "opening" and self._source.startswith("gateway://"):
            # The gateway runs its own model: only its stream is being opened.
            self.busy.start(f"Connecting to the stream of {source_label(self._source)}…")
        elif state == "opening":
            self.busy.start(
                f"Opening {source_label(self._source)} with model {model_label(self._model)}…"
            )
        else:
            self.busy.finish()
        tags = {
            "stopped": "STOPPED",
            "error": "ERROR",
            "reconnecting": "RECONNECTING…",
            "stopping": "STOPPING…",
        }
        tag = tags.get(state)
        if tag is None and state == "running" and self._source.startswith("gateway://"):
            where = self._source.removeprefix("gateway://").replace("?camera=", " · camera ")
            tag = f"GATEWAY {where}"
        self.live_view.set_tag(tag)
        self.live_view.set_placeholder(PLACEHOLDERS.get(state, IDLE_PLACEHOLDER))

    def show_about(self) -> None:
        from edgeconsole.ui.about import show_about

        show_about(self)

    def report(self, event: Event) -> None:
        """Show something the app itself (not the session) needs to tell the person."""
        self._report(event)

    def _report(self, event: Event, log: bool = True) -> None:
        if log:
            self.event_log.add_event(event)
        if event.level not in ("error", "warning"):
            return
        # A warning never hides an error that is still on screen.
        error_on_screen = self.message_bar.isVisible() and self.message_bar.level == "error"
        if event.level == "error" or not error_on_screen:
            self.message_bar.show_event(event)

    # ----------------------------------------------------------------- close
    def closeEvent(self, event: QCloseEvent) -> None:
        self.poll_loop.stop()
        if self.bundles_panel is not None:
            self.bundles_panel.shutdown()
        self.save_settings()
        super().closeEvent(event)
