"""Mounts the device and gateway parts into the main window and feeds them each poll.

``DevicesUi(window)`` adds the "Serial devices" and "Gateways" rows of the
targets tree (with their state; a gateway's cameras below it), the "Connect
serial device…" and "Add gateway…" actions (Devices menu), the device panel
dock and the telemetry dock; ``apply(update)`` routes the poll's target views,
job progress and telemetry to them. Picking a gateway camera in the tree (or
"Watch stream" in the device panel) makes it the window's source: the live view
and the latency panel then show the gateway's stream; Stop ends it. The window
only calls these two (and ``start_demo``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QColor
from PySide6.QtWidgets import QDialog, QDockWidget, QMainWindow, QMenu, QTreeWidgetItem

from edgeconsole.core.clock import now_ns, wall_iso
from edgeconsole.session.gateway_stream import is_stream_spec, stream_spec
from edgeconsole.session.targets import TargetView
from edgeconsole.session.update import Event, Update
from edgeconsole.ui.devices.device_panel import DevicePanel
from edgeconsole.ui.devices.format import STATE_COLOUR, STATE_TEXT
from edgeconsole.ui.devices.telemetry_view import TelemetryView
from edgeconsole.ui.session_port import TargetsPort
from edgeconsole.ui.targets_panel import SOURCE_ROLE
from edgeconsole.ui.theme import COLOURS

if TYPE_CHECKING:
    from edgeconsole.ui.main_window import MainWindow

URL_ROLE = Qt.ItemDataRole.UserRole + 2
#: How long the "Add gateway…" dialog listens for mDNS answers.
DISCOVER_S = 2.0


#: Pipeline states in which the latency tab keeps the front.
PIPELINE_ACTIVE = frozenset({"opening", "running", "reconnecting"})


class DevicesUi(QObject):
    def __init__(self, window: MainWindow, targets: TargetsPort) -> None:
        super().__init__(window)
        self.window = window
        self.targets = targets
        self.views: dict[str, TargetView] = {}
        self.selected: str | None = None
        self._shown_once = False
        qsettings = getattr(getattr(window, "settings", None), "qsettings", None)
        self.panel = DevicePanel(targets, report=self._report, settings=qsettings)
        self.panel.on_watch = self.watch_stream
        self.panel.on_remote = self.infer_remote
        #: The gateway discovery the dialog runs (tests point it at loopback only).
        self.discover_gateways: Any = lambda: targets.discover_gateways(DISCOVER_S)
        self._demo: Any = None
        self._demo_watched = False
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
        self.gateway_action = QAction("Add gateway…", window)
        self.gateway_action.setObjectName("addGatewayAction")
        self.gateway_action.setShortcut("Ctrl+Shift+G")
        self.gateway_action.setToolTip(
            "Connect a gateway by address or from the ones found on the network (Ctrl+Shift+G)"
        )
        self.gateway_action.triggered.connect(self.show_gateway_dialog)
        window.addAction(self.gateway_action)
        self._build_menu(window)
        tree = window.targets
        tree.currentItemChanged.connect(self._on_tree_pick)
        tree.itemActivated.connect(lambda item, _c: self._on_tree_pick(item, None))

    def _build_menu(self, window: QMainWindow) -> None:
        bar = window.menuBar()
        menu = QMenu("&Devices", window)
        menu.setToolTipsVisible(True)
        menu.addAction(self.connect_action)
        menu.addAction(self.gateway_action)
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
        # The dialogs are imported when first opened: not on the way to the first paint.
        from edgeconsole.ui.devices.connect_dialog import ConnectDialog

        dialog = ConnectDialog(self.targets.discover, self.window)
        if dialog.exec() == QDialog.DialogCode.Accepted and dialog.url():
            self.connect_url(dialog.url())

    def show_gateway_dialog(self) -> None:
        from edgeconsole.ui.gateway.add_dialog import AddGatewayDialog

        dialog = AddGatewayDialog(self.discover_gateways, self.window, self.window.session.jobs)
        if dialog.exec() == QDialog.DialogCode.Accepted and dialog.url():
            self.connect_gateway(dialog.url(), dialog.token_text(), dialog.token_file or None)

    def connect_gateway(
        self, url: str, token: str | None = None, token_file: str | None = None
    ) -> str | None:
        try:
            key = str(self.targets.connect(url, token=token, token_file=token_file))
        except Exception as exc:
            self._report("error", f"Could not connect {url}: {exc}")
            return None
        self.select(key)
        return key

    def watch_stream(self, url: str, camera: int = 0) -> None:
        """Make the gateway camera the window's source and start (or switch to) it."""
        spec = stream_spec(url, camera)
        window = self.window
        latency_dock = getattr(window, "latency_dock", None)
        if latency_dock is not None:
            latency_dock.raise_()  # the network stage is what this view adds
        active = window.status.state in ("opening", "running", "reconnecting", "stopping")
        window.choose_source(spec)  # restarts with it when something runs
        if not active:
            window.start()

    def infer_remote(self, server: str, model: str) -> None:
        """Run the window's source and model description with inference on an OIP
        server (the laptop preprocesses and decodes)."""
        window = self.window
        source = window.source
        if source.startswith("gateway://"):
            self._report("warning", "Pick a laptop source first: a gateway stream has its model")
            return
        window.latency.reset()  # the session stops what runs and starts this instead
        window.live_view.clear()
        try:
            window.session.start_local(
                source, window.model, budget_ms=window.budget_ms, remote=(server, model)
            )
        except Exception as exc:
            self._report("error", f"Could not infer on {server}: {exc}")

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
        self._demo = job
        if job.urls:
            self.select(job.urls[0])
            self.panel.bundle_dir = str(job.sample_bundles_dir())

    def select(self, url: str) -> None:
        self.selected = url
        view = self.views.get(url)
        self.panel.show_target(view)
        self.panel_dock.show()
        if view is not None and view.kind != "serial":
            return  # no telemetry lines from a gateway
        self.telemetry.set_device(url, view.label if view else url)
        if view is None or view.state != "connected":
            return  # shown once it is known (a stock device's statistics are in its panel)
        if view.stock is not None:
            return
        if not self._shown_once:
            self._shown_once = True
            self.telemetry_dock.show()
            # While the live pipeline runs its latency stays in front (the telemetry
            # tab is one click away); otherwise the device's telemetry is what matters.
            status = getattr(self.window, "status", None)
            if getattr(status, "state", "idle") not in PIPELINE_ACTIVE:
                self.telemetry_dock.raise_()

    def _on_tree_pick(self, item: QTreeWidgetItem | None, _prev: object) -> None:
        url = item.data(0, URL_ROLE) if item is not None else None
        if url:
            self.select(str(url))
        spec = item.data(0, SOURCE_ROLE) if item is not None else None
        if spec and is_stream_spec(str(spec)):
            if str(spec) != self.window.source:
                self.window.choose_source(str(spec))  # restarts with it when something runs
            if self.window.status.state in ("idle", "stopped", "error"):
                self.window.start()

    # ---------------------------------------------------------------- apply
    def apply(self, update: Update, deadline_ns: int | None = None) -> None:
        if update.targets is not None:
            self.views = {v.url: v for v in update.targets}
            self._show_tree()
            self._show_gateways()
            if self.selected is not None:
                view = self.views.get(self.selected)
                self.panel.show_target(view)
                if view is not None and view.kind == "serial":
                    self.telemetry.set_device(view.url, view.label)
                    if not self._shown_once and view.state == "connected":
                        self.select(view.url)  # now known: the telemetry dock, if it has any
        demo = self._demo
        if demo is not None and not self._demo_watched and demo.gateway_ready.is_set():
            # The demo's gateway is ready (sample bundle running there): say how to watch
            # it, but never switch away from what the person is watching by itself.
            self._demo_watched = True
            note = getattr(demo, "gateway_note", "")
            bar = getattr(self.window, "message_bar", None)
            url = getattr(demo, "gateway_url", "")
            if (
                note
                and url
                and bar is not None
                and bar.isVisible()
                and bar.level == "error"
                and url in bar.text.text()
            ):
                # The failed flash of the fast bundle is in the event log and the audit;
                # the demo recovered from it, so the bar says what runs now instead.
                bar.dismiss()
            self._report(
                "warning" if note else "info",
                (
                    f"Demo gateway: {note}. "
                    if note
                    else "The demo gateway runs the fast inspector (one decision per part). "
                )
                + "Select its camera under Gateways (or Watch stream) to see its stream",
            )
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
            item = _target_item(v, label, f"{v.serial} fw {v.firmware}")
            group.addChild(item)
            if v.url == keep:
                self.window.targets.blockSignals(True)
                self.window.targets.setCurrentItem(item)
                self.window.targets.blockSignals(False)
        group.setExpanded(True)

    def _show_gateways(self) -> None:
        tree = self.window.targets
        group = tree.group("gateway")
        current = tree.currentItem()
        keep = (
            (current.data(0, URL_ROLE), current.data(0, SOURCE_ROLE))
            if current is not None
            else None
        )
        gateways = [
            v for v in self.views.values() if v.kind in ("gateway", "oip") and v.state != "closed"
        ]
        # Rebuilding removes the current row: the tree must not take that for a pick.
        tree.blockSignals(True)
        try:
            group.takeChildren()
            if not gateways:
                item = QTreeWidgetItem(["None connected"])
                item.setFlags(Qt.ItemFlag.NoItemFlags)
                item.setForeground(0, QColor(COLOURS.text_dim))
                item.setToolTip(0, "Devices → Add gateway… (Ctrl+Shift+G)")
                group.addChild(item)
            for v in gateways:
                state = STATE_TEXT.get(v.state, v.state)
                if v.kind != "gateway" and v.state == "connected":
                    state = "OIP server"
                label = f"● {v.name or v.url}  ·  {state}"
                if v.state == "connected" and v.health and v.health != "live, ready":
                    label += f"  ·  {v.health}"
                item = _target_item(v, label, f"{v.server}  ·  {v.health or '-'}")
                group.addChild(item)
                if keep == (v.url, None):
                    tree.setCurrentItem(item)
                for i, cam in enumerate(v.cameras):
                    spec = stream_spec(v.url, i)
                    child = QTreeWidgetItem([f"Camera {cam}"])
                    child.setData(0, URL_ROLE, v.url)
                    child.setData(0, SOURCE_ROLE, spec)
                    child.setToolTip(0, f"{spec}\nSelect to watch its stream in the live view")
                    if spec == self.window.source:
                        f = child.font(0)
                        f.setBold(True)
                        child.setFont(0, f)
                    item.addChild(child)
                    if keep == (v.url, spec):
                        tree.setCurrentItem(child)
                item.setExpanded(True)
            group.setExpanded(True)
        finally:
            tree.blockSignals(False)


def _target_item(v: Any, label: str, detail: str) -> QTreeWidgetItem:
    """A target's row in the tree: its state colour and a tooltip with what runs there."""
    item = QTreeWidgetItem([label])
    item.setData(0, URL_ROLE, v.url)
    item.setForeground(0, QColor(STATE_COLOUR.get(v.state, COLOURS.text)))
    tip = f"{v.url}\n{detail}"
    if v.running:
        tip += f"\nruns {v.running.bundle_id} v{v.running.version}"
    if v.error and v.state != "connected":
        tip += f"\n{v.error}"
    item.setToolTip(0, tip)
    return item


def mount_devices(window: MainWindow) -> DevicesUi:
    """Mount the device parts over the session's target manager."""
    return DevicesUi(window, window.session.targets)
