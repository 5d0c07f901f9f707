"""The centre of the main window: the live view plus one tab per job.

Live is built with the window; every other tab (bundles, commissioning, logs,
fleet, replay) is built the first time it is shown, so start-up stays fast and
a panel that fails to build says so in its tab instead of taking the app down.
Menu actions for recording, replay, export and the site/technician names live
here too, because they belong to those panels.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QLabel, QTabWidget, QVBoxLayout, QWidget

from edgeconsole.session.update import Event

if TYPE_CHECKING:
    from edgeconsole.session.api import Journal
    from edgeconsole.ui.main_window import MainWindow

PanelFactory = Callable[[], QWidget]


class _Pending(QWidget):
    """Stands in for a panel until its tab is first shown."""

    def __init__(self, factory: PanelFactory) -> None:
        super().__init__()
        self.factory = factory


class Workspaces(QTabWidget):
    def __init__(self, live: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("workspaces")
        self.setDocumentMode(True)
        self.addTab(live, "Live")
        self.panels: dict[str, QWidget] = {"Live": live}
        self.currentChanged.connect(self._ensure_built)

    def add_lazy(self, title: str, factory: PanelFactory, tip: str = "") -> int:
        index = self.addTab(_Pending(factory), title)
        if tip:
            self.setTabToolTip(index, tip)
        return index

    def index_of(self, title: str) -> int:
        for i in range(self.count()):
            if self.tabText(i) == title:
                return i
        raise KeyError(title)

    def show_panel(self, title: str) -> QWidget:
        index = self.index_of(title)
        self.setCurrentIndex(index)
        self._ensure_built(index)
        return self.panels[title]

    def _ensure_built(self, index: int) -> None:
        widget = self.widget(index)
        if not isinstance(widget, _Pending):
            return
        title = self.tabText(index)
        tip = self.tabToolTip(index)
        try:
            panel = widget.factory()
        except Exception as exc:  # a broken panel must not take the window down
            traceback.print_exc()
            panel = _error_panel(title, exc)
        self.blockSignals(True)
        self.removeTab(index)
        self.insertTab(index, panel, title)
        self.setTabToolTip(index, tip)
        self.setCurrentIndex(index)
        self.blockSignals(False)
        widget.deleteLater()
        self.panels[title] = panel


def _error_panel(title: str, exc: Exception) -> QWidget:
    w = QWidget()
    layout = QVBoxLayout(w)
    label = QLabel(f"The {title} panel could not be opened: {exc}")
    label.setWordWrap(True)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    layout.addWidget(label)
    return w


def _needs_journal(window: MainWindow, build: Callable[[Journal], QWidget]) -> PanelFactory:
    def factory() -> QWidget:
        journal = window.session.journal
        if journal is None:
            raise RuntimeError("the journal is not open, so there is nothing to show here")
        return build(journal)

    return factory


def mount_workspaces(window: MainWindow) -> Workspaces:
    """Wrap the window's central widget in tabs and add the panels' menu actions."""
    live = window.centralWidget()
    assert live is not None, "the live view is built before the workspaces"
    tabs = Workspaces(live)
    window.setCentralWidget(tabs)
    window.workspaces = tabs

    def bundles() -> QWidget:
        from edgeconsole.ui.bundles import BundlesPanel

        panel = BundlesPanel(window.settings.qsettings, jobs=window.session.jobs)
        window.bundles_panel = panel
        return panel

    def commission() -> QWidget:
        from edgeconsole.session.evidence import reports_dir
        from edgeconsole.ui.commission.panel import CommissionPanel

        return CommissionPanel(reports_dir=reports_dir(), jobs=window.session.jobs)

    def logs(journal: Journal) -> QWidget:
        from edgeconsole.ui.journal.logs_view import LogsView

        return LogsView(journal)

    def fleet(journal: Journal) -> QWidget:
        from edgeconsole.ui.journal.fleet_view import FleetView

        return FleetView(journal)

    def camera() -> QWidget:
        from edgeconsole.session.evidence import reports_dir
        from edgeconsole.ui.cameras.panel import CameraSetupPanel

        panel = CameraSetupPanel(
            window.session.camera_setup, window.settings.qsettings, reports_dir=reports_dir()
        )
        current = window.source
        if current.startswith(("aravis:", "pylon:")):
            panel.set_source(current.split("?", 1)[0])
        return panel

    def plc() -> QWidget:
        from edgeconsole.ui.plc.panel import PlcPanel

        return PlcPanel(window.session, window.settings.qsettings)

    def replay() -> QWidget:
        from edgeconsole.ui.journal.replay_view import ReplayView

        return ReplayView()

    tabs.add_lazy("Bundles", bundles, "Trust store, bundle library, inspect, build, benchmark")
    tabs.add_lazy("Commission", commission, "Validate a target on a labelled set; signed report")
    tabs.add_lazy("Logs", _needs_journal(window, logs), "The audit journal: filter, search, export")
    tabs.add_lazy("Fleet", _needs_journal(window, fleet), "Every target seen at this site")
    tabs.add_lazy("Replay", replay, "Play back a recording with its overlays and latency")
    tabs.add_lazy("PLC", plc, "The reject gate: the handshake with the line PLC, timed per part")
    tabs.add_lazy(
        "Camera", camera, "Industrial cameras: find, set exposure/gain/format/ROI/trigger, setups"
    )
    for i in range(tabs.count()):
        window._action(
            f"Show {tabs.tabText(i)}",
            lambda _=False, i=i: tabs.setCurrentIndex(i),
            [f"Ctrl+{i + 1}"],
        )
    _add_journal_actions(window, tabs)
    _latency_follows_live(window, tabs)
    return tabs


def _latency_follows_live(window: MainWindow, tabs: Workspaces) -> None:
    """The latency dock belongs to the live view: other tabs get its room back."""
    state = {"visible": True, "on_live": True}

    def changed(index: int) -> None:
        on_live = index == 0
        if state["on_live"] and not on_live:
            state["visible"] = window.latency_dock.isVisible()
            window.latency_dock.hide()
        elif on_live and not state["on_live"] and state["visible"]:
            window.latency_dock.show()
        state["on_live"] = on_live

    tabs.currentChanged.connect(changed)


def _add_journal_actions(window: MainWindow, tabs: Workspaces) -> None:
    from edgeconsole.ui.journal.record_action import RecordAction

    def report_error(text: str) -> None:
        window.report(Event(level="error", text=text, kind="recording"))

    record = RecordAction(window.session, window, on_error=report_error)
    window.addAction(record)
    window.record_action = record
    window.toolbar.insertAction(window.toolbar.actions()[2], record)
    window.statusBar().addPermanentWidget(record.status_label)

    def open_recording() -> None:
        path, _ = QFileDialog.getOpenFileName(
            window, "Open recording", str(Path.home()), "Recordings (*.mcap)"
        )
        if path:
            view: Any = tabs.show_panel("Replay")
            view.open(path)

    def export_pack() -> None:
        journal = window.session.journal
        if journal is None:
            report_error("the journal is not open, so there is nothing to export")
            return
        from edgeconsole.ui.journal.export_dialog import ExportDialog

        ExportDialog(journal, window, jobs=window.session.jobs).open()

    def site_names() -> None:
        journal = window.session.journal
        if journal is None:
            report_error("the journal is not open; site and technician cannot be saved")
            return
        from edgeconsole.ui.journal.site_dialog import SiteDialog

        SiteDialog(journal, window).open()

    open_action = window._action("Open recording…", open_recording, ["Ctrl+Shift+O"])
    export_action = window._action("Export evidence pack…", export_pack, ["Ctrl+E"])
    site_action = window._action("Site and technician…", site_names)
    file_menu = _menu(window, "&File")
    first = file_menu.actions()[0] if file_menu.actions() else None
    for action in (record, open_action, export_action, site_action):
        file_menu.insertAction(first, action)
    file_menu.insertSeparator(first)


def _menu(window: MainWindow, title: str) -> Any:
    for action in window.menuBar().actions():
        if action.text() == title and action.menu() is not None:
            return action.menu()
    return window.menuBar().addMenu(title)


def ask_site_if_missing(window: MainWindow) -> None:
    """First run: ask for the site and technician names that stamp everything."""
    journal = window.session.journal
    if journal is None or journal.site().complete:
        return
    from edgeconsole.ui.journal.site_dialog import SiteDialog

    SiteDialog(journal, window, first_run=True).open()
