"""The main window's first paint does not wait for pyqtgraph (issue 8).

The latency and telemetry plots are built after the window's first paint; what
the window hands the panels before that is drawn by the build.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import QSettings
from pytestqt.qtbot import QtBot

from edgeconsole.core.clock import now_ns
from edgeconsole.session.session import Session
from edgeconsole.ui.main_window import MainWindow

from . import builders

REPO = Path(__file__).resolve().parents[2]

# The start-up steps of tests/benchmarks/bench_startup.py's APP driver, then a look
# at what is imported and built, at the first paint and once the events are processed.
DRIVER = """
import json, sys, time
from PySide6.QtCore import QEvent, QEventLoop, QObject, QSettings
from edgeconsole.ui.app import create_application
app = create_application()
from edgeconsole.session.session import Session
from edgeconsole.ui.main_window import MainWindow

PLOTTING = ("edgeconsole.ui.bundles.bench_view", "edgeconsole.ui.journal.telemetry_plot",
            "edgeconsole.ui.commission.panel")
# Nothing on the first screen needs these (issue 15): the PLC monitor and its asyncio,
# the journal and SQLite, TLS, the device dialogs.
NOT_FOR_FIRST_PAINT = ("asyncio", "ssl", "sqlite3", "edgeconsole.session.plc_monitor",
                       "edgeconsole.journal.journal", "edgeconsole.ui.devices.connect_dialog",
                       "edgeconsole.ui.gateway.add_dialog")

session = Session()
w = MainWindow(session, QSettings(sys.argv[1], QSettings.Format.IniFormat)); w.show()
out = {
    "pyqtgraph_at_show": "pyqtgraph" in sys.modules,
    "plotting_modules_at_show": [m for m in PLOTTING if m in sys.modules],
    "latency_built_at_show": w.latency.plots_built,
}

class FirstPaint(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint and "first_paint" not in out:
            out["first_paint"] = {"pyqtgraph": "pyqtgraph" in sys.modules,
                                  "latency_built": w.latency.plots_built}
            out["imported_at_first_paint"] = [m for m in NOT_FOR_FIRST_PAINT
                                              if m in sys.modules]
        return False

watch = FirstPaint()
w.installEventFilter(watch)

def wait(cond, seconds=30.0):
    deadline = time.monotonic() + seconds
    while not cond() and time.monotonic() < deadline:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
    return cond()

out["latency_built"] = wait(lambda: w.latency.plots_built)
out["pyqtgraph_after"] = "pyqtgraph" in sys.modules
out["latency_plots"] = [p is not None and p.isVisible()
                        for p in (w.latency.chart.plot, w.latency.histogram.plot)]
tv = w.devices.telemetry
# Tabbed behind the latency dock: built when first seen.
out["telemetry_built_behind_tab"] = tv.plots_built
w.devices.telemetry_dock.raise_()
out["telemetry_built"] = wait(lambda: tv.plots_built)
out["telemetry_graphics_visible"] = tv.graphics is not None and tv.graphics.isVisible()
w.close()
session.close()
print(json.dumps(out), flush=True)
"""


def test_window_shows_before_pyqtgraph_is_imported_then_builds_the_plots(
    tmp_path: Path,
) -> None:
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
    assert out["pyqtgraph_at_show"] is False
    assert out["plotting_modules_at_show"] == []
    assert out["latency_built_at_show"] is False
    # The window's first paint happened without pyqtgraph and without the plots.
    assert out["first_paint"] == {"pyqtgraph": False, "latency_built": False}
    assert out["imported_at_first_paint"] == []
    assert out["latency_built"] is True and out["pyqtgraph_after"] is True
    assert out["latency_plots"] == [True, True]
    assert out["telemetry_built_behind_tab"] is False
    assert out["telemetry_built"] is True and out["telemetry_graphics_visible"] is True


def test_samples_the_window_takes_before_the_build_are_drawn_after_it(
    qtbot: QtBot, settings: QSettings
) -> None:
    session = Session()
    w = MainWindow(session, settings)
    qtbot.addWidget(w)
    try:
        w.poll_loop.stop()  # only the updates below reach the panel
        w.chart_interval_ns = w.stats_interval_ns = 0  # every tick draws and shows stats
        far = now_ns() + 10**11
        # A first tick before the window is even shown, one after: both before the build.
        w.apply_update(builders.update(index=30, n_samples=30), far)
        w.resize(1400, 900)
        w.show()
        w.apply_update(builders.update(index=45, n_samples=15), far)
        panel = w.latency
        assert not panel.plots_built and len(panel.chart.ring) == 45
        assert panel.table.cell_text("e2e", "p50") != "—"
        qtbot.waitUntil(lambda: panel.plots_built, timeout=20_000)
        hist = panel.histogram
        assert panel.chart.e2e_curve is not None
        assert hist.under is not None and hist.over is not None
        x, e2e = panel.chart.e2e()
        assert list(x) == list(range(1, 46))
        expected = [s.e2e_ms for s in builders.samples(1, 45)]
        assert list(e2e) == expected
        assert panel.chart.budget_line is not None and panel.chart.budget_line.value() == 45.0
        # The last stats applied (the second tick's 15 samples), split at the budget.
        under, over = hist.under.getData()[1], hist.over.getData()[1]
        assert sum(under) + sum(over) == 15 and sum(over) > 0
        # And the ticks after the build draw as before.
        w.apply_update(builders.update(index=50, n_samples=5), far)
        assert list(panel.chart.e2e()[0])[-1] == 50 and not panel.dirty
    finally:
        w.close()
        session.close()
