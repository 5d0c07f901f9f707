"""The real window driving a real Session (offscreen Qt, real onnxruntime)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from pytestqt.qtbot import QtBot

from edgeconsole.core.clock import now_ns
from edgeconsole.session.session import Session
from edgeconsole.session.update import Event
from edgeconsole.ui.main_window import MainWindow, default_model
from edgeconsole.ui.targets_panel import SYNTHETIC_CONVEYOR

from . import builders

LABEL_INSPECTOR = Path(__file__).resolve().parents[2] / "sample_models" / "label_inspector"
FAST = Path(__file__).resolve().parents[2] / "sample_models" / "label_orientation"
WAIT_MS = 60_000  # generous: the machine's two cores are shared with other test runs

needs_model = pytest.mark.skipif(
    not (LABEL_INSPECTOR / "model.json").is_file(), reason="sample_models/label_inspector not built"
)


@needs_model
def test_demo_shows_frames_and_latency_then_stops(qtbot: QtBot, window: MainWindow) -> None:
    assert Path(default_model()) == FAST  # the demo opens on the fast inspector
    # First run: no budget chosen yet, so the model's own (5 ms a part) applies.
    assert window.budget_follows_model and window.budget_spin.text() == "model"
    window.start_demo()
    assert window.busy.isVisible()  # opening happens off the UI thread
    qtbot.waitUntil(lambda: window.status.state == "running", timeout=WAIT_MS)
    assert not window.busy.isVisible()
    assert not window.start_action.isEnabled() and window.stop_action.isEnabled()
    qtbot.waitUntil(lambda: window.live_view.frames_painted >= 2, timeout=WAIT_MS)
    # The session prepares frames at the view's size: the window copies them as they are.
    qtbot.waitUntil(lambda: window.live_view.frames_blitted >= 2, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: len(window.latency.chart.ring) >= 2, timeout=WAIT_MS)
    # The conveyor always carries parts: boxes with their IDs, and the banner.
    assert window.live_view.overlay
    # One verdict per part: the status counts parts, and the trigger line is drawn.
    assert window.status.mode == "parts" and window.live_view.trigger_line is not None
    # The latency panel leads with decision latency per part, frame stages beside it.
    qtbot.waitUntil(lambda: window.latency.decisions.log.decided >= 1, timeout=WAIT_MS)
    assert window.latency.parts_mode and "p99" in window.latency.decisions.readout.text()
    assert window.latency.decisions.log.budget_ms == 5.0
    qtbot.waitUntil(lambda: window.latency.table.cell_text("e2e", "p50") != "—", timeout=WAIT_MS)
    assert "frames" in window.status_panel.frames.text()
    assert window.status_panel.state.text() == "RUNNING"
    assert window.budget_ms == 5.0
    qtbot.waitUntil(lambda: window.latency.chart.budget_line is not None, timeout=WAIT_MS)
    assert window.latency.chart.budget_line.value() == 5.0
    assert window.budget_spin.text() == "model · 5 ms"
    assert window.status_panel.budget.text() == "budget 5 ms"
    window.stop()
    qtbot.waitUntil(lambda: window.status.state == "stopped", timeout=WAIT_MS)
    assert window.start_action.isEnabled() and not window.stop_action.isEnabled()
    assert not window.message_bar.isVisible()  # a clean run shows no error


def test_missing_video_file_shows_error_and_window_stays_usable(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-video.mp4"
    window.choose_source(str(missing))
    window.choose_model(str(LABEL_INSPECTOR))
    window.start()
    qtbot.waitUntil(lambda: window.status.state == "error", timeout=WAIT_MS)
    qtbot.waitUntil(window.message_bar.isVisible, timeout=WAIT_MS)
    assert window.message_bar.level == "error"
    assert "no-such-video.mp4" in window.message_bar.text.text()
    assert "×" not in window.message_bar.text.text()  # one failure, shown once
    assert any("no-such-video.mp4" in t for t in window.event_log.texts())
    # Still usable: Start is enabled and the next run starts.
    assert window.start_action.isEnabled()
    window.message_bar.dismiss_button.click()
    assert not window.message_bar.isVisible()
    window.choose_source(SYNTHETIC_CONVEYOR)
    window.start()
    assert window.status.state == "opening"
    window.stop()  # cancels the opening
    qtbot.waitUntil(lambda: window.status.state in ("stopped", "idle"), timeout=WAIT_MS)
    assert window.start_action.isEnabled()


def test_model_that_is_not_a_model_shows_error(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    bogus = tmp_path / "model.json"
    bogus.write_text("{ this is not json")
    window.choose_source(SYNTHETIC_CONVEYOR)
    window.choose_model(str(bogus))
    window.start()
    qtbot.waitUntil(lambda: window.status.state == "error", timeout=WAIT_MS)
    assert window.message_bar.isVisible() and window.message_bar.level == "error"
    assert window.start_action.isEnabled()
    assert window.live_view.frame_index == -1  # nothing stale on screen


def test_busy_bar_cancel_button(qtbot: QtBot, window: MainWindow) -> None:
    window.choose_source(SYNTHETIC_CONVEYOR)
    window.choose_model(str(LABEL_INSPECTOR))
    window.start()
    assert window.busy.isVisible() and window.cancel_action.isEnabled()
    qtbot.mouseClick(window.busy.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.status.state == "stopped", timeout=WAIT_MS)
    assert not window.busy.isVisible()
    assert window.start_action.isEnabled()


def test_settings_persist_across_windows(
    qtbot: QtBot, session: Session, settings: QSettings, tmp_path: Path
) -> None:
    video = str(tmp_path / "line3.mp4")
    first = MainWindow(session, settings)
    qtbot.addWidget(first)
    first.show()
    # A size of our choosing that fits the 800x800 offscreen screen.
    first.resize(min(first.minimumSizeHint().width() + 7, 790), 690)
    first_size = first.size()
    first.choose_source(video)
    first.choose_model(str(LABEL_INSPECTOR))
    first.set_budget(66.0)
    first.latency_dock.hide()
    first.close()
    second = MainWindow(session, QSettings(settings.fileName(), QSettings.Format.IniFormat))
    qtbot.addWidget(second)
    second.show()
    assert second.source == video
    assert second.model == str(LABEL_INSPECTOR)
    assert second.budget_ms == 66.0 and second.budget_spin.value() == 66.0
    assert second.size() == first_size
    assert not second.latency_dock.isVisible()
    assert second.source_combo.itemData(0) == video
    # The budget can be switched off, and that is remembered too.
    second.set_budget(None)
    assert second.budget_ms is None and second.budget_spin.text() == "off"
    second.close()
    third = MainWindow(session, QSettings(settings.fileName(), QSettings.Format.IniFormat))
    qtbot.addWidget(third)
    assert third.budget_ms is None
    third.close()
    # Back to the model's own budget: remembered, and the next run asks the model.
    third.follow_model_budget()
    assert third.budget_follows_model
    third.close()
    fourth = MainWindow(session, QSettings(settings.fileName(), QSettings.Format.IniFormat))
    qtbot.addWidget(fourth)
    assert fourth.budget_follows_model and fourth.budget_spin.text() == "model"
    fourth.close()
    # Settings went to the test's file, nowhere else.
    assert Path(settings.fileName()).parent == tmp_path


def test_shortcuts_are_bound_and_shown_in_tooltips(window: MainWindow) -> None:
    expected = {
        window.start_action: ["F5"],
        window.stop_action: ["Shift+F5", "Esc"],
        window.source_action: ["Ctrl+O"],
        window.model_action: ["Ctrl+M"],
        window.budget_action: ["Ctrl+B"],
        window.fullscreen_action: ["F11"],
        window.quit_action: ["Ctrl+Q"],
    }
    for action, keys in expected.items():
        assert [k.toString() for k in action.shortcuts()] == keys
        assert keys[0] in action.toolTip()


def test_shortcut_keys_drive_the_window(qtbot: QtBot, window: MainWindow) -> None:
    qtbot.waitExposed(window)
    window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_B, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(window.budget_spin.hasFocus)
    window.choose_source(SYNTHETIC_CONVEYOR)
    window.choose_model(str(LABEL_INSPECTOR))
    qtbot.keyClick(window, Qt.Key.Key_F5)
    qtbot.waitUntil(lambda: window.status.state in ("opening", "running"))
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: window.status.state == "stopped", timeout=WAIT_MS)


def test_apply_update_errors_events_and_budgeted_drawing(qtbot: QtBot, window: MainWindow) -> None:
    window.poll_loop.stop()  # drive the window with constructed batches only
    qtbot.waitUntil(lambda: window.targets_refreshed > 0)  # its own events come first
    window.event_log.clear()
    window.message_bar.dismiss()
    window.chart_interval_ns = 0  # no redraw throttling: each call below is "a tick later"
    window.status_panel.counter_interval_ns = 0  # nor of the status bar's counters
    err = Event(level="error", text="camera 3: no such camera (check the cable)", kind="source")
    warn = Event(level="warning", text="source stalled", kind="source")
    far = now_ns() + 10**11  # a deadline a loaded machine cannot overrun by accident
    window.apply_update(builders.update(index=5, n_samples=40, events=[err, warn]), far)
    assert window.message_bar.isVisible() and window.message_bar.level == "error"
    assert "camera 3" in window.message_bar.text.text()  # the warning did not hide it
    assert len(window.event_log.texts()) == 2
    assert window.live_view.frame_index == 5
    assert len(window.latency.chart.ring) == 40 and not window.latency.dirty
    assert window.status_panel.dropped.text() == "dropped 3"
    # Past the deadline: the samples are kept but the drawing waits for a tick.
    window.apply_update(builders.update(index=50, n_samples=10), deadline_ns=now_ns() - 1)
    assert window.latency.dirty and len(window.latency.chart.ring) == 50
    window.apply_update(builders.update(index=None, n_samples=0), far)
    assert not window.latency.dirty
    # An event flood is bounded per tick and nothing is lost.
    flood = [Event(level="info", text=f"e{i}") for i in range(120)]
    window.apply_update(builders.update(index=None, events=flood))
    for _ in range(3):
        window.apply_update(builders.update(index=None))
    assert len(window.event_log.texts()) == 122


def test_targets_tree_offers_synthetic_and_room_for_devices(
    qtbot: QtBot, window: MainWindow
) -> None:
    specs = [spec for _, spec in window.targets.source_items()]
    assert SYNTHETIC_CONVEYOR in specs
    assert window.targets.group("serial").text(0) == "Serial devices"
    assert window.targets.group("gateway").text(0) == "Gateways"
    window.targets.set_cameras([{"index": 2, "path": "/dev/video2", "name": "USB cam"}])
    item = window.targets.group("laptop").child(0)
    assert "USB cam" in item.text(0)
    with qtbot.waitSignal(window.targets.source_activated) as sig:
        window.targets.itemActivated.emit(item, 0)
    assert sig.args == ["camera:2"]
    assert window.source == "camera:2"


def test_latency_panel_follows_its_dock(window: MainWindow) -> None:
    assert window.dockWidgetArea(window.latency_dock) == Qt.DockWidgetArea.BottomDockWidgetArea
    assert window.latency.orientation == Qt.Orientation.Horizontal
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, window.latency_dock)
    assert window.latency.orientation == Qt.Orientation.Vertical
    window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, window.latency_dock)
    assert window.latency.orientation == Qt.Orientation.Horizontal


def test_chart_redraws_are_throttled_but_never_lost(qtbot: QtBot, window: MainWindow) -> None:
    window.poll_loop.stop()
    window.chart_interval_ns = 10**12  # far longer than the test
    # A generous deadline: this test is about the throttle, not the per-tick budget
    # (which a loaded machine can overrun before the chart's turn).
    far = now_ns() + 10**11
    window.apply_update(builders.update(index=10, n_samples=5), far)
    assert window.latency.chart.redraws >= 1 and not window.latency.dirty
    redraws = window.latency.chart.redraws
    window.apply_update(builders.update(index=20, n_samples=10), far)
    assert window.latency.chart.redraws == redraws and window.latency.dirty
    assert len(window.latency.chart.ring) == 15  # kept, drawn later
    window.chart_interval_ns = 0
    window.apply_update(builders.update(index=None), far)
    assert window.latency.chart.redraws == redraws + 1 and not window.latency.dirty
