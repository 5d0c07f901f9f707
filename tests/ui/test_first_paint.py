"""The window paints before the session exists, then makes it (issue 15, start-up).

``MainWindow(None, settings, open_session=...)`` is how ``edgeconsole`` starts: the
window's first paint says it is starting and needs neither the session's graph nor
numpy; the session is made right after that paint, and the window then works as one
built with a session.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from pytestqt.qtbot import QtBot

from edgeconsole.session.session import Session
from edgeconsole.ui.live_view import IDLE_PLACEHOLDER
from edgeconsole.ui.main_window import MainWindow
from edgeconsole.ui.window_state import PLACEHOLDERS

REPO = Path(__file__).resolve().parents[2]

DRIVER = """
import json, sys, time
from PySide6.QtCore import QEvent, QEventLoop, QObject, QSettings, QTimer
from edgeconsole.ui.app import create_application
app = create_application()
from edgeconsole.ui.main_window import MainWindow

HEAVY = ("numpy", "edgeconsole.session.session", "edgeconsole.session.targets",
         "edgeconsole.ui.devices.mount", "pyqtgraph", "cv2", "onnxruntime",
         "edgeconsole.ui.latency_panel", "edgeconsole.session.api", "edgeconsole.core.frames")
out = {"made_at": None}

def open_session():
    out["made_at"] = "after first paint" if out.get("painted") else "before it was done"
    out["docks_painted_before_session"] = bool(out.get("docks_painted"))
    from edgeconsole.session.session import Session
    out["session"] = Session()
    return out["session"]

w = MainWindow(None, QSettings(sys.argv[1], QSettings.Format.IniFormat),
               open_session=open_session)
out["start_enabled_before"] = w.start_action.isEnabled()

class FirstPaint(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint and "first_paint" not in out:
            out["first_paint"] = {"heavy": [m for m in HEAVY if m in sys.modules],
                                  "ready": w.ready,
                                  "docks_filled": w.docks_filled,
                                  "placeholder": w.live_view._placeholder}
            # Posted now, so it runs once this paint has returned to the loop.
            QTimer.singleShot(0, lambda: out.setdefault("painted", True))
        if (event.type() == QEvent.Type.Paint and w.docks_filled
                and obj in (w.latency, w.targets, w.event_log)):
            out["docks_painted"] = True
        return False

watch = FirstPaint()
w.installEventFilter(watch)
app.installEventFilter(watch)
w.when_ready(lambda: out.setdefault("ready_call", w.session is out.get("session")))
w.resize(1200, 800); w.show()
deadline = time.monotonic() + 60
while not w.ready and time.monotonic() < deadline:
    app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
out["ready"] = w.ready
out["placeholder_after"] = w.live_view._placeholder
out["start_enabled_after"] = w.start_action.isEnabled()
out["trigger_button"] = w.trigger_control.button.parent() is w.toolbar
out["tabs"] = sorted(w.workspaces.panels) if w.workspaces is not None else None
out["poll_ticks"] = 0
t = time.monotonic()
while w.poll_loop.ticks < 3 and time.monotonic() < t + 30:
    app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
out["poll_ticks"] = w.poll_loop.ticks
w.close()
out["session"].close()
del out["session"]
print(json.dumps(out), flush=True)
"""


def test_the_window_paints_before_the_session_then_makes_it(tmp_path: Path) -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", EDGECONSOLE_HOME=str(tmp_path / "home"))
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, str(tmp_path / "ui.ini")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["first_paint"] == {
        "heavy": [],
        "ready": False,
        "docks_filled": False,
        "placeholder": PLACEHOLDERS["starting"],
    }
    # The docks' contents are shown before the session's imports hold the loop.
    assert out["docks_painted_before_session"] is True
    assert out["start_enabled_before"] is False  # nothing to start with yet
    assert out["made_at"] == "after first paint"
    assert out["ready"] is True and out["ready_call"] is True
    assert out["placeholder_after"] == IDLE_PLACEHOLDER
    assert out["start_enabled_after"] is True and out["trigger_button"] is True
    assert out["tabs"] and out["poll_ticks"] >= 3


def test_a_window_closed_while_starting_never_makes_its_session(
    qtbot: QtBot, settings: QSettings
) -> None:
    made: list[Session] = []

    def open_session() -> Session:
        made.append(Session())
        return made[-1]

    w = MainWindow(None, settings, open_session=open_session)
    qtbot.addWidget(w)
    w.show()
    w.repaint()  # the first paint: it posts the opening
    w.close()  # before the loop ran it
    qtbot.wait(200)
    assert made == [] and not w.ready


def test_a_window_needs_a_session_or_a_way_to_open_one(settings: QSettings) -> None:
    with pytest.raises(ValueError, match="a session or a way to open one"):
        MainWindow(None, settings)
