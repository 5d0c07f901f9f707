"""Start-up time: ``edgeconsole --version`` and time to the main window's first paint.

Each figure is compared with a baseline measured in the same run, alternating:
``python -c pass`` for --version, a bare PySide6 QMainWindow for the window.
Goals: --version under 0.3 s (issue 8); window at most 2.0x the bare window (issue 15).
Also lists what sits on the way to the window's first paint (python -X importtime):
the watched heavy modules, and every module that took more than PATH_MS itself,
with its cumulative time and the module that first imported it.

What the window figures measure, the same way for the bare and the app window:
from starting the driver process until it prints SHOWN, and it prints SHOWN from a
zero-delay timer started when the main window receives its first ``QEvent.Paint``
(an event filter installed before ``show()``). The offscreen platform delivers
Expose and Paint as a display does: after ``show()`` returns, the event loop first
runs what was already posted (a zero-delay timer posted right after ``show()``
would fire before any paint), then the expose paints the whole window (the
top-level first, its children after, into the backing store, then flushed). The
marker's timer fires on the loop's next pass, once that paint has returned. So each
figure is interpreter start + imports + building the window + its first complete
paint. Whatever the app posts during that paint (its deferred plot builds are posted
when their placeholders, children of the window, paint) is queued after the marker;
had it run before the marker, it would only make the app's figure larger. The driver
exits at the marker (``os._exit``), so the import profile lists only what was
imported before the first paint.

    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/benchmarks/bench_startup.py [--rounds N]
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHOWN = "SHOWN"

# Both drivers install this on their main window before showing it: SHOWN once the
# window's first paint has returned to the event loop, then exit at once (nothing
# queued after the marker runs, so the import profile stops there too).
FIRST_PAINT = f"""
import os
from PySide6.QtCore import QEvent, QObject, QTimer
def shown():
    print({SHOWN!r}, flush=True)
    os._exit(0)
class FirstPaint(QObject):
    seen = False
    armed = True
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint and not self.seen and self.armed:
            self.seen = True
            QTimer.singleShot(0, shown)
        return False
first_paint = FirstPaint()
"""
BARE = f"""
import sys
from PySide6.QtWidgets import QApplication, QMainWindow
app = QApplication(sys.argv[:1])
{FIRST_PAINT}
w = QMainWindow(); w.resize(1400, 900); w.installEventFilter(first_paint); w.show()
app.exec()
"""
# The same steps as edgeconsole.ui.app.main, with throwaway settings: the window
# paints first ("Starting EdgeConsole..."), the session is made right after that paint.
APP = f"""
import sys
from PySide6.QtCore import QSettings
from edgeconsole.ui.app import create_application
app = create_application()
{FIRST_PAINT}
from edgeconsole.ui.main_window import MainWindow
def open_session():
    from edgeconsole.session.session import Session
    return Session(interactive=True)
w = MainWindow(None, QSettings(sys.argv[1], QSettings.Format.IniFormat), open_session=open_session)
if len(sys.argv) > 2:  # "ready": the session made and attached (before its repaint,
    first_paint.armed = False  # and before the charts' build the first paint posted)
    w.when_ready(shown)
w.installEventFilter(first_paint); w.show()
app.exec()
"""
#: A module on the first-paint path is listed when it took this long itself (ms).
PATH_MS = 15.0
#: The window's goal: first paint at most this many times a bare window's.
GOAL_RATIO = 2.0
#: Modules whose cumulative import time is reported when they load before the window.
WATCH = (
    "edgeconsole.session.api",
    "edgeconsole.inference.line",
    "edgeconsole.ui.settings",
    "onnxruntime",
    "cv2",
    "pyqtgraph",
    "mcap",
    "numpy",
    "PySide6.QtWidgets",
    "edgeconsole.ui.main_window",
    "edgeconsole.session.session",
    "cryptography",
    "aiohttp",
    "onnx",
    "serial",
    "zeroconf",
)


def _temporary_folder(prefix: str) -> str:
    """A folder removed when the benchmark ends (each run made dozens in /tmp)."""
    folder = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def env() -> dict[str, str]:
    e = dict(os.environ)
    e.setdefault("QT_QPA_PLATFORM", "offscreen")
    e["EDGECONSOLE_HOME"] = _temporary_folder("bench-startup-home-")
    return e


def time_to_marker(code: str, *args: str) -> float:
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env(),
        cwd=REPO,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip() == SHOWN:
            elapsed = time.perf_counter() - started
            proc.wait(timeout=60)
            return elapsed
    proc.wait(timeout=60)
    raise RuntimeError(f"driver exited {proc.returncode} without showing a window")


def time_command(cmd: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=env(), timeout=60)
    return time.perf_counter() - started


def import_profile(code: str, *args: str) -> tuple[dict[str, float], list[dict[str, object]]]:
    """(watched module: cumulative ms, the path): what ``code`` imported before it ended
    (the drivers end at the first paint). The path lists each module that took at
    least PATH_MS itself, in import order, with who imported it first."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code, *args],
        capture_output=True,
        text=True,
        env=env(),
        cwd=REPO,
        timeout=120,
    )
    rows: list[tuple[int, str, float, float]] = []  # depth, name, self ms, cumulative ms
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = line[len("import time:") :].split("|")
        try:
            self_us, cumulative_us = int(parts[0]), int(parts[1])
        except ValueError:
            continue
        raw = parts[2].rstrip()
        name = raw.strip()
        rows.append(
            ((len(raw) - len(raw.lstrip())) // 2, name, self_us / 1000, cumulative_us / 1000)
        )
    watched: dict[str, float] = {}
    for _depth, name, _self_ms, cumulative in rows:
        if name in WATCH and name not in watched:
            watched[name] = round(cumulative, 1)
    # importtime prints a module after everything it imported: the importer of a row is
    # the next row printed with a smaller depth.
    path: list[dict[str, object]] = []
    for i, (depth, name, self_ms, cumulative) in enumerate(rows):
        if self_ms < PATH_MS:
            continue
        parent = next((r[1] for r in rows[i + 1 :] if r[0] < depth), "")
        path.append(
            {
                "module": name,
                "self_ms": round(self_ms, 1),
                "cumulative_ms": round(cumulative, 1),
                "imported_by": parent,
            }
        )
    return watched, path


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    exe = str(Path(sys.executable).with_name("edgeconsole"))
    settings = str(Path(_temporary_folder("bench-startup-")) / "s.ini")

    version, python_pass, bare, app, ready = [], [], [], [], []
    time_to_marker(BARE)  # warm the page cache for both before measuring
    time_to_marker(APP, settings)
    for i in range(args.rounds):
        # Alternate the order so drift (other engineers' load) hits both sides.
        pairs = [(version, [exe, "--version"]), (python_pass, [sys.executable, "-c", "pass"])]
        for bucket, cmd in pairs if i % 2 == 0 else pairs[::-1]:
            bucket.append(time_command(cmd))
        runs = [(bare, (BARE,)), (app, (APP, settings)), (ready, (APP, settings, "ready"))]
        for bucket, drv in runs if i % 2 == 0 else runs[::-1]:
            bucket.append(time_to_marker(*drv))

    med = statistics.median
    profile, path = import_profile(APP, settings)
    result = {
        "rounds": args.rounds,
        "version_s": round(med(version), 3),
        "python_pass_s": round(med(python_pass), 3),
        "version_goal_s": 0.3,
        "version_ok": med(version) < 0.3,
        "bare_window_s": round(med(bare), 3),
        "app_window_s": round(med(app), 3),
        "window_ratio": round(med(app) / med(bare), 2),
        "window_goal_ratio": GOAL_RATIO,
        "window_ok": med(app) / med(bare) <= GOAL_RATIO,
        "app_window_runs_s": [round(x, 3) for x in app],
        # Until the window has made and attached the session (workspaces, devices,
        # poll loop): what the first paint no longer waits for.
        "app_ready_s": round(med(ready), 3),
        "ready_ratio": round(med(ready) / med(bare), 2),
        "bare_window_runs_s": [round(x, 3) for x in bare],
        "imports_before_window_ms": dict(sorted(profile.items(), key=lambda kv: -kv[1])),
        "import_path": path,
        "load_average_1min": round(os.getloadavg()[0], 2),
        "not_imported_before_window": [
            m for m in ("onnxruntime", "cv2", "onnx", "aiohttp") if m not in profile
        ],
    }
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
