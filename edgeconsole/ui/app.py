"""Starts the desktop app: ``edgeconsole`` (window) and ``edgeconsole demo``."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from types import FrameType
from typing import Any

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

import edgeconsole
from edgeconsole.ui.gui_gc import GuiThreadCollector
from edgeconsole.ui.settings import APPLICATION, ORGANIZATION, user_settings
from edgeconsole.ui.theme import apply_theme


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="edgeconsole", description="EdgeConsole window")
    parser.add_argument(
        "mode",
        nargs="?",
        default="app",
        choices=("app", "gui", "demo"),
        help="'demo' starts the synthetic conveyor with the fast inspector (one verdict per part)",
    )
    parser.add_argument(
        "--seconds", type=float, default=None, help="quit by itself after this many seconds"
    )
    parser.add_argument("--source", default=None, help="start at once on this source")
    parser.add_argument("--model", default=None, help="model for --source")
    return parser.parse_args(list(argv))


#: GIL switch interval for the window's process. The UI thread re-enters Python
#: for every slot and every paint override (pyqtgraph paints in Python); with
#: pipeline threads busy, each re-entry can wait a full switch interval for the
#: GIL. 1 ms instead of CPython's 5 ms cut the poll tick's p99 by about 3x in
#: tests/benchmarks/bench_ui_lag.py.
UI_SWITCH_INTERVAL_S = 0.001


def create_application() -> QApplication:
    sys.setswitchinterval(UI_SWITCH_INTERVAL_S)
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        app = QApplication([sys.argv[0] if sys.argv else "edgeconsole"])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationVersion(edgeconsole.__version__)
    apply_theme(app)
    return app


def install_sigint_handler(app: QApplication) -> QTimer:
    """Ctrl+C in the terminal, and SIGTERM (a logout, ``kill``, a service manager),
    close the window like Ctrl+Q does: the session closes, the demo's device and
    agent stop and their temporary folder is removed. (SIGTERM's default would end
    the process on the spot and leave that folder, agent token included, in TMPDIR.)

    Python only runs signal handlers between bytecodes, and Qt's event loop is
    C++; a cheap timer gives the interpreter a chance to run every 200 ms. The
    handler only queues the close: run inside whatever code the signal interrupted
    it could re-enter it, and a ``quit()`` that comes before ``exec()`` (a signal
    while the demo is still starting) would be lost and the app would never end.
    """

    def close_and_quit() -> None:
        app.closeAllWindows()
        app.quit()

    def on_sigint(_signum: int, _frame: FrameType | None) -> None:
        QTimer.singleShot(0, close_and_quit)

    signal.signal(signal.SIGINT, on_sigint)
    signal.signal(signal.SIGTERM, on_sigint)
    wake = QTimer(app)
    wake.setInterval(200)
    wake.timeout.connect(lambda: None)
    wake.start()
    return wake


def open_journal() -> tuple[Any, str | None]:
    """The app's journal, or None and the reason: a journal that cannot open must not
    keep the technician from working (the window says so)."""
    from edgeconsole.core.errors import EdgeConsoleError
    from edgeconsole.session.api import Journal

    try:
        return Journal.open(), None
    except (EdgeConsoleError, OSError) as exc:
        return None, f"journal unavailable, nothing will be recorded: {exc}"


class _SessionOnceOpen:
    """The crash handler's view of a session the window makes after its first paint:
    installed before the window is built, so an error while building it is shown too."""

    def __init__(self) -> None:
        self.session: Any = None

    @property
    def journal(self) -> Any:
        return None if self.session is None else self.session.journal

    @property
    def recording_path(self) -> Any:
        return None if self.session is None else self.session.recording_path

    def stop_recording(self) -> Any:
        return None if self.session is None else self.session.stop_recording()


def main(argv: Sequence[str], settings: QSettings | None = None) -> int:
    try:
        args = parse_args(argv)
    except SystemExit as exc:  # argparse already printed the usage line
        return int(exc.code or 0)
    app = create_application()
    collector = GuiThreadCollector(app).start()
    # Imported after QApplication exists: pyqtgraph reads the app at import.
    from edgeconsole.session.update import Event
    from edgeconsole.ui.crash import install_crash_handler
    from edgeconsole.ui.main_window import MainWindow

    window: MainWindow | None = None
    opened = _SessionOnceOpen()
    journal_error: list[str] = []
    previous = signal.getsignal(signal.SIGINT)
    previous_term = signal.getsignal(signal.SIGTERM)
    crash = install_crash_handler(opened, lambda: window)

    def open_session() -> Any:
        # After the window's first paint (issue 15): the session's imports, the journal.
        from edgeconsole.session.session import Session

        journal, error = open_journal()
        if error is not None:
            journal_error.append(error)
        opened.session = Session(journal=journal, interactive=True)
        return opened.session

    def ready() -> None:
        from edgeconsole.ui.workspaces import ask_site_if_missing

        assert window is not None
        collector.settle()
        if journal_error:
            window.report(Event(level="error", text=journal_error[0], kind="journal"))
        elif args.mode != "demo" and args.seconds is None:
            ask_site_if_missing(window)
        if args.mode == "demo":
            window.start_demo()
        elif args.source:
            window.choose_source(args.source)
            if args.model:
                window.choose_model(args.model)
            window.start()

    try:
        window = MainWindow(
            None, settings if settings is not None else user_settings(), open_session=open_session
        )
        window.when_ready(ready)
        window.show()
        _wake = install_sigint_handler(app)
        if args.seconds is not None:
            QTimer.singleShot(int(args.seconds * 1000), window.close)
        return int(app.exec())
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGTERM, previous_term)
        if window is not None and window.poll_loop is not None:
            window.poll_loop.stop()
        crash.uninstall()
        if opened.session is not None:
            opened.session.close()
        collector.stop()
