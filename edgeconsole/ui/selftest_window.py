"""The self-test's window check: open the main window, let it tick, close it.

Lives in ui/ because it is Qt; ``edgeconsole.selftest`` calls it and reports.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QEventLoop, QSettings


class WindowCheckFailed(RuntimeError):
    """The main window did not open, show, or close as it should."""


def open_and_close_main_window(timeout_s: float) -> str:
    from edgeconsole.session.session import Session
    from edgeconsole.ui.app import create_application

    app = create_application()
    from edgeconsole.ui.main_window import MainWindow

    with tempfile.TemporaryDirectory(prefix="edgeconsole-selftest-") as tmp:
        # A throwaway settings file: the self-test must not move the person's window.
        settings = QSettings(str(Path(tmp) / "selftest.ini"), QSettings.Format.IniFormat)
        session = Session()
        try:
            window = MainWindow(session, settings)
            started = time.perf_counter()
            window.show()
            deadline = started + timeout_s
            while not window.isVisible() and time.perf_counter() < deadline:
                app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
            if not window.isVisible():
                raise WindowCheckFailed("main window did not become visible")
            # Let the first poll ticks and the deferred target refresh run.
            until = time.perf_counter() + 0.5
            while time.perf_counter() < until:
                app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
            shown_ms = (time.perf_counter() - started) * 1000
            title = window.windowTitle()
            if not window.close():
                raise WindowCheckFailed("main window refused to close")
            QCoreApplication.sendPostedEvents()
            app.processEvents()
            if window.isVisible():
                raise WindowCheckFailed("main window still visible after close")
            window.deleteLater()
            app.processEvents()
        finally:
            session.close()
    platform = app.platformName()
    return f"'{title}' opened and closed on the '{platform}' platform ({shown_ms:.0f} ms)"
