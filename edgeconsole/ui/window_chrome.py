"""The main window's chrome: actions with their shortcuts, the toolbar, the menus, the
trigger control, and the keyboard-shortcut and full-screen commands.

A base of :class:`edgeconsole.ui.main_window.MainWindow` (split off by job so each
module stays small); the commands the actions call live in the window and in
:class:`edgeconsole.ui.window_choices.WindowChoices`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QLabel,
    QMenu,
    QMessageBox,
    QSizePolicy,
    QToolButton,
    QWidget,
)

from edgeconsole.ui.budget_spin import FOLLOW_MODEL, BudgetSpinBox
from edgeconsole.ui.targets_panel import SYNTHETIC_CONVEYOR
from edgeconsole.ui.window_choices import WindowChoices

if TYPE_CHECKING:
    from edgeconsole.session.update import Event
    from edgeconsole.ui.trigger_menu import TriggerControl


class WindowChrome(WindowChoices):
    """Builds the actions, toolbar and menus of the window (called from its constructor)."""

    trigger_control: TriggerControl
    targets_dock: QDockWidget
    latency_dock: QDockWidget
    log_dock: QDockWidget
    start: Callable[[], None]
    stop_or_cancel: Callable[[], None]
    cancel: Callable[[], None]
    refresh_targets: Callable[[], None]
    show_about: Callable[[], None]
    _report: Callable[[Event], None]

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
        """What decides a part: a toolbar button and the Run menu's submenu (Ctrl+T).
        A starting window mounts it with the docks' contents, after its first paint
        (the trigger's types import the line's package); it takes the place the
        toolbar's spacer kept free, so nothing else moves."""
        from edgeconsole.ui.trigger_menu import TriggerControl

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

    def show_source_menu(self) -> None:
        pos = self.source_button.mapToGlobal(self.source_button.rect().bottomLeft())
        self.source_menu.popup(pos)

    def toggle_fullscreen(self) -> None:
        if self.isFullScreen():
            self.showNormal()
        else:
            self.showFullScreen()
        self.fullscreen_action.setChecked(self.isFullScreen())

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
