"""The app entry point: starts, runs the demo, quits on Ctrl+C, closes the session."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

from edgeconsole.ui import app as app_module
from edgeconsole.ui.main_window import MainWindow


def _windows() -> list[MainWindow]:
    return [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]


def test_sigint_closes_window_and_session(qapp: QApplication, settings: QSettings) -> None:
    seen: list[str] = []

    before = signal.getsignal(signal.SIGINT)

    def interrupt() -> None:
        # Only once the app's handler is in: a slow start (a loaded machine) can run this
        # timer from an event processed while the window is built, and Python's default
        # handler would raise KeyboardInterrupt in whatever code runs then.
        if signal.getsignal(signal.SIGINT) is before:
            QTimer.singleShot(50, interrupt)
            return
        windows = [w for w in _windows() if w.isVisible()]
        if windows and not windows[-1].ready:  # still starting (issue 15): the demo next
            QTimer.singleShot(50, interrupt)
            return
        seen.append(windows[-1].status.state if windows else "no window")
        os.kill(os.getpid(), signal.SIGINT)

    QTimer.singleShot(300, interrupt)
    assert app_module.main(["demo"], settings=settings) == 0
    assert seen and seen[0] in ("opening", "running")
    assert signal.getsignal(signal.SIGINT) is before  # handler restored
    assert not any(w.isVisible() for w in _windows())
    # The window saved its layout on the way out.
    assert QSettings(settings.fileName(), QSettings.Format.IniFormat).value("window/state")


def test_seconds_option_and_bad_arguments(
    qapp: QApplication, settings: QSettings, tmp_path: Path
) -> None:
    assert app_module.main(["app", "--seconds", "0.2"], settings=settings) == 0
    assert app_module.main(["--no-such-flag"], settings=settings) == 2
    args = app_module.parse_args(["demo", "--seconds", "5"])
    assert args.mode == "demo" and args.seconds == 5.0


#: A signal that arrives before the event loop runs (the demo still starting).
EARLY_SIGNAL = """
import os, signal, sys
from PySide6.QtCore import QTimer
from edgeconsole.ui import app as app_module
from PySide6.QtWidgets import QWidget
app = app_module.create_application()
wake = app_module.install_sigint_handler(app)
w = QWidget(); w.show()
os.kill(os.getpid(), getattr(signal, sys.argv[1]))  # handled here, before exec()
QTimer.singleShot(20000, lambda: (print("never quit"), app.exit(3)))
print("exit", app.exec(), "visible", w.isVisible())
"""


def test_a_signal_before_the_event_loop_still_ends_the_app() -> None:
    import subprocess
    import sys

    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    for name in ("SIGTERM", "SIGINT"):
        proc = subprocess.run(
            [sys.executable, "-c", EARLY_SIGNAL, name],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        assert proc.stdout.split() == ["exit", "0", "visible", "False"], (name, proc.stdout)
