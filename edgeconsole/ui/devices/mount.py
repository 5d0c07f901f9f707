"""Mounts the serial-device parts into the main window and feeds them each poll.

``DevicesUi(window)`` adds the "Serial devices" rows of the targets tree (with
their state), the "Connect serial device…" action (Devices menu), the device
panel dock and the telemetry dock; ``apply(update)`` routes the poll's target
views, job progress and telemetry to them. The window only calls these two
(and ``start_demo``).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QColor
from PySide6.QtWidgets import QDialog, QDockWidget, QMainWindow, QMenu, QTreeWidgetItem

from edgeconsole.core.clock import now_ns, wall_iso
from edgeconsole.session.targets import TargetView
from edgeconsole.session.update import Event, Update
from edgeconsole.ui.devices.connect_dialog import ConnectDialog
from edgeconsole.ui.devices.device_panel import DevicePanel
from edgeconsole.ui.devices.format import STATE_COLOUR, STATE_TEXT
from edgeconsole.ui.devices.telemetry_view import TelemetryView
from edgeconsole.ui.theme import COLOURS

URL_ROLE = Qt.ItemDataRole.UserRole + 2


class DevicesUi(QObject):
    def __init__(self, window: Any, targets: Any) -> None:
        super().__init__(window)
        self.window = window
        self.targets = targets
        self.views: dict[str, TargetView] = {}
        self.selected: str | None = None
        self._shown_once = False
        self.panel = DevicePanel(targets, report=self._report)
        self.telemetry = TelemetryView()
        self.panel_dock: QDockWidget = window._dock(
            "Device", "deviceDock", self.panel, Qt.DockWidgetArea.RightDockWidgetArea
        )
        self.telemetry_dock: QDockWidget = window._dock(
            "Telemetry", "telemetryDock", self.telemetry, Qt.DockWidgetArea.BottomDockWidgetArea
        )
        latency_dock = getattr(window, "latency_dock", None)
        if latency_dock is not None:
            window.tabifyDockWidget(latency_dock, self.telemetry_dock)
            latency_dock.raise_()
        self.panel_dock.hide()
        self.connect_action = QAction("Connect serial device…", window)
        self.connect_action.setObjectName("connectSerialAction")
        self.connect_action.setShortcut("Ctrl+Shift+D")
        self.connect_action.setToolTip("Connect a device on a serial port (Ctrl+Shift+D)")
        self.connect_action.triggered.connect(self.show_connect_dialog)
        window.addAction(self.connect_action)
        self._build_menu(window)
        tree = window.targets
        tree.currentItemChanged.connect(self._on_tree_pick)
        tree.itemActivated.connect(lambda item, _c: self._on_tree_pick(item, None))

    def _build_menu(self, window: QMainWindow) -> None:
        bar = window.menuBar()
        menu = QMenu("&Devices", window)
        menu.setToolTipsVisible(True)
        menu.addAction(self.connect_action)
        menu.addSeparator()
        menu.addAction(self.panel_dock.toggleViewAction())
        menu.addAction(self.telemetry_dock.toggleViewAction())
        help_action = next((a for a in bar.actions() if a.text() == "&Help"), None)
        if help_action is not None:
            bar.insertMenu(help_action, menu)
        else:
            bar.addMenu(menu)
        self.menu = menu

    # ------------------------------------------------------------- commands
    def _report(self, level: str, text: str) -> None:
        self.window.report(Event(level=level, text=text, kind="device", wall_time=wall_iso()))  # type: ignore[arg-type]

    def show_connect_dialog(self) -> None:
        dialog = ConnectDialog(self.targets.discover, self.window)
        if dialog.exec() == QDialog.DialogCode.Accepted and dialog.url():
            self.connect_url(dialog.url())

    def connect_url(self, url: str) -> str | None:
        try:
            key = str(self.targets.connect(url))
        except Exception as exc:
            self._report("error", f"Could not connect {url}: {exc}")
            return None
        self.select(key)
        return key

    def start_demo(self) -> None:
        """The demo's virtual serial device: started by the session, shown here."""
        from edgeconsole.session.demo import start_demo_devices

        try:
            job = start_demo_devices(self.window.session, background=True)
        except Exception as exc:
            self._report("error", f"Could not start the demo device: {exc}")
            return
        if job.urls:
            self.select(job.urls[0])
            self.panel.bundle_dir = str(job.sample_bundles_dir())

    def select(self, url: str) -> None:
        self.selected = url
        view = self.views.get(url)
        self.panel.show_target(view)
        self.telemetry.set_device(url, view.label if view else url)
        self.panel_dock.show()
        if not self._shown_once:
            self._shown_once = True
            self.telemetry_dock.show()
            self.telemetry_dock.raise_()

    def _on_tree_pick(self, item: QTreeWidgetItem | None, _prev: object) -> None:
        url = item.data(0, URL_ROLE) if item is not None else None
        if url:
            self.select(str(url))

    # ---------------------------------------------------------------- apply
    def apply(self, update: Update, deadline_ns: int | None = None) -> None:
        if update.targets is not None:
            self.views = {v.url: v for v in update.targets}
            self._show_tree()
            if self.selected is not None:
                view = self.views.get(self.selected)
                self.panel.show_target(view)
                if view is not None:
                    self.telemetry.set_device(view.url, view.label)
        for job in update.jobs:
            self.panel.show_job(job)
        for batch in update.telemetry:
            self.telemetry.add_batch(batch)
        if deadline_ns is None or now_ns() < deadline_ns:
            self.telemetry.redraw()

    def _show_tree(self) -> None:
        group = self.window.targets.group("serial")
        current = self.window.targets.currentItem()
        keep = current.data(0, URL_ROLE) if current is not None else None
        group.takeChildren()
        serial = [v for v in self.views.values() if v.kind == "serial" and v.state != "closed"]
        if not serial:
            item = QTreeWidgetItem(["None connected"])
            item.setFlags(Qt.ItemFlag.NoItemFlags)
            item.setForeground(0, QColor(COLOURS.text_dim))
            item.setToolTip(0, "Devices → Connect serial device… (Ctrl+Shift+D)")
            group.addChild(item)
        for v in serial:
            label = f"● {v.name or v.url}  ·  {STATE_TEXT.get(v.state, v.state)}"
            item = QTreeWidgetItem([label])
            item.setData(0, URL_ROLE, v.url)
            item.setForeground(0, QColor(STATE_COLOUR.get(v.state, COLOURS.text)))
            running = v.running
            tip = f"{v.url}\n{v.serial} fw {v.firmware}"
            if running:
                tip += f"\nruns {running.bundle_id} v{running.version}"
            if v.error and v.state != "connected":
                tip += f"\n{v.error}"
            item.setToolTip(0, tip)
            group.addChild(item)
            if v.url == keep:
                self.window.targets.blockSignals(True)
                self.window.targets.setCurrentItem(item)
                self.window.targets.blockSignals(False)
        group.setExpanded(True)


def mount_devices(window: Any) -> DevicesUi | None:
    """Mount the device parts when the session has a target manager (the real one does)."""
    targets = getattr(window.session, "targets", None)
    return DevicesUi(window, targets) if targets is not None else None
