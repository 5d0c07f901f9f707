"""Bundles in the window: trust store, bundle library, inspect, benchmark, build wizard.

Mounting (MainWindow, owned by the lead)::

    from edgeconsole.ui.bundles import BundlesPanel

    self.bundles_panel = BundlesPanel(self.settings.qsettings)  # trust: <app data>/trust
    # as a tab next to the live view, or a dock:
    dock = QDockWidget("Bundles", self); dock.setObjectName("bundlesDock")
    dock.setWidget(self.bundles_panel)
    self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    # menu: Tools > Build bundle… (Ctrl+Shift+B) -> self.bundles_panel.open_build_wizard()
    # closeEvent: self.bundles_panel.shutdown()
"""

from edgeconsole.ui.bundles.panel import BundlesPanel

__all__ = ["BundlesPanel"]
