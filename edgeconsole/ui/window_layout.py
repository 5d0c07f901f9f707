"""The window's frame: the live view with its message and busy bars in the middle, the
targets, latency and event-log docks around it, and the geometry and dock layout kept
in the settings (restored at start, saved on close)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QDockWidget, QVBoxLayout, QWidget

from edgeconsole.ui.live_view import LiveView
from edgeconsole.ui.messages import BusyBar, MessageBar
from edgeconsole.ui.settings import WindowSettings
from edgeconsole.ui.window_chrome import WindowChrome

if TYPE_CHECKING:
    from edgeconsole.ui.latency_pacer import LatencyPacer
    from edgeconsole.ui.latency_panel import LatencyPanel
    from edgeconsole.ui.messages import EventLog
    from edgeconsole.ui.targets_panel import TargetsPanel


class WindowLayout(WindowChrome):
    settings: WindowSettings
    _layout_restored: bool
    _default_layout_done: bool
    _budget: float | None
    targets: TargetsPanel
    latency: LatencyPanel
    pacer: LatencyPacer
    event_log: EventLog

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

    def _build_docks(self, *, fill: bool = True) -> None:
        """The three docks where they belong. ``fill=False``: empty for now (a window
        starting paints its frame first, issue 15); ``fill_docks`` adds what they show."""
        self.targets_dock = self._dock(
            "Targets", "targetsDock", QWidget(), Qt.DockWidgetArea.LeftDockWidgetArea
        )
        # Left docks run full height; latency sits under the live view so a
        # 16:9 camera image gets the width it needs.
        self.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.setCorner(Qt.Corner.TopLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.latency_dock = self._dock(
            "Latency", "latencyDock", QWidget(), Qt.DockWidgetArea.BottomDockWidgetArea
        )
        self.latency_dock.dockLocationChanged.connect(self._on_latency_dock_moved)
        self.log_dock = self._dock(
            "Event log", "logDock", QWidget(), Qt.DockWidgetArea.LeftDockWidgetArea
        )
        self.splitDockWidget(self.targets_dock, self.log_dock, Qt.Orientation.Vertical)
        self.docks_filled = False
        if fill:
            self.fill_docks()

    def fill_docks(self) -> None:
        """What the docks show: the targets tree, the latency panel, the event log.
        Imported here: their modules and widgets cost a starting window's first paint
        about as much as the rest of the window together."""
        from edgeconsole.ui.latency_pacer import LatencyPacer
        from edgeconsole.ui.latency_panel import LatencyPanel
        from edgeconsole.ui.messages import EventLog
        from edgeconsole.ui.targets_panel import TargetsPanel

        if self.docks_filled:
            return
        self.targets = TargetsPanel()
        self.latency = LatencyPanel()
        self.pacer = LatencyPacer(self.latency)
        self.event_log = EventLog()
        self.latency.set_budget(self._budget)
        self.docks_filled = True
        self._on_latency_dock_moved(self.dockWidgetArea(self.latency_dock))
        for dock, widget in (
            (self.targets_dock, self.targets),
            (self.latency_dock, self.latency),
            (self.log_dock, self.event_log),
        ):
            placeholder = dock.widget()
            dock.setWidget(widget)
            if placeholder is not None:
                placeholder.deleteLater()

    def _on_latency_dock_moved(self, area: Qt.DockWidgetArea) -> None:
        if not self.docks_filled:
            return
        side = area in (Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea)
        self.latency.set_orientation(Qt.Orientation.Vertical if side else Qt.Orientation.Horizontal)

    # --------------------------------------------------------------- settings
    def _restore_geometry(self, *, size: bool = True) -> None:
        geometry = self.settings.geometry()
        if not size:
            pass  # already set (the window was shown while starting): the docks only
        elif geometry is not None:
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
