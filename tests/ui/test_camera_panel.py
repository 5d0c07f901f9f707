"""The window's Camera tab against the real emulators, and the camera line of the latency panel."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox

from edgeconsole.ui.latency_panel import camera_text
from tests.ui import builders

SHOTS = (
    Path(os.environ.get("EDGECONSOLE_SHOTS", "")) if os.environ.get("EDGECONSOLE_SHOTS") else None
)


def _wait(qtbot: Any, condition: Callable[[], bool], panel: Any = None) -> None:
    """Wait for the panel; when a camera never answers, the failure shows what the panel
    said, the free disk, and where each thread of this process waits (a driver call that
    hangs is otherwise invisible)."""
    try:
        qtbot.waitUntil(condition, timeout=30000)
    except Exception as exc:
        said = "" if panel is None else f"panel says: {panel.message.text()!r}; "
        free = shutil.disk_usage(tempfile.gettempdir()).free / 1e9
        said += f"{free:.1f} GB free in {tempfile.gettempdir()}; "
        frames = sys._current_frames()
        stacks = [
            f"--- thread {t.name}\n" + "".join(traceback.format_stack(frames[t.ident]))
            for t in threading.enumerate()
            if t.ident in frames and t is not threading.current_thread()
        ]
        raise AssertionError(f"{exc}; threads:\n" + "\n".join(stacks)) from None


def _panel(window: Any, spec: str) -> Any:
    panel = window.workspaces.show_panel("Camera")
    panel.set_source(spec)
    return panel


def _row(panel: Any, name: str) -> int:
    for row in range(panel.table.rowCount()):
        item = panel.table.item(row, 0)
        if item is not None and item.data(Qt.ItemDataRole.UserRole) == name:
            return row
    raise KeyError(name)


def _read(qtbot: Any, panel: Any) -> None:
    panel.read()
    _wait(qtbot, lambda: bool(panel.features) and panel.read_button.isEnabled(), panel)


def _edit(panel: Any, name: str, text: str) -> None:
    row = _row(panel, name)
    widget = panel.table.cellWidget(row, 1)
    if isinstance(widget, QComboBox):
        widget.setCurrentText(text)
    else:
        panel.table.item(row, 1).setText(text)


def _shot(panel: Any, name: str) -> None:
    if SHOTS is not None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        panel.window().grab().save(str(SHOTS / name))


def test_camera_tab_reads_sets_and_explains_refusals_on_pylon(
    qtbot: Any, window: Any, pylon_emulator: str, tmp_path: Path
) -> None:
    panel = _panel(window, pylon_emulator)
    _read(qtbot, panel)
    assert "Basler Emulation" in panel.identity.text()
    names = [f.name for f in panel.features]
    assert names[:3] == ["PixelFormat", "Width", "Height"] and "TriggerSoftware" in names
    accepts = panel.table.item(_row(panel, "ExposureTime"), 2).text()
    assert accepts == "1 .. 10000000 us"
    _edit(panel, "ExposureTime", "5000")
    _edit(panel, "Gain", "99")
    _edit(panel, "PixelFormat", "BayerRG8")
    panel.apply_changes()
    _wait(qtbot, lambda: panel.apply_button.isEnabled() and "✗" in panel.message.text(), panel)
    text = panel.message.text()
    assert "ExposureTime = 5000 us" in text and "PixelFormat = BayerRG8" in text
    assert "Gain 99 dB is out of range: this camera accepts 0 .. 48 dB" in text
    by = {f.name: f for f in panel.features}
    assert by["ExposureTime"].value == pytest.approx(5000) and by["PixelFormat"].value == "BayerRG8"
    _shot(panel, "camera_tab_pylon.png")
    panel.save(str(tmp_path / "setup.json"))
    _wait(qtbot, lambda: "saved to" in panel.message.text(), panel)
    _edit(panel, "PixelFormat", "Mono8")
    panel.apply_changes()
    _wait(qtbot, lambda: "PixelFormat = Mono8" in panel.message.text(), panel)
    panel.load(str(tmp_path / "setup.json"))
    _wait(qtbot, lambda: "applied" in panel.message.text(), panel)
    assert {f.name: f.value for f in panel.features}["PixelFormat"] == "BayerRG8"


@pytest.mark.xdist_group("gige-fake-camera")
def test_camera_tab_finds_and_sets_the_gige_camera(
    qtbot: Any, window: Any, fake_gv_camera: Any
) -> None:
    panel = window.workspaces.show_panel("Camera")
    panel.find_cameras()
    _wait(qtbot, lambda: panel.find_button.isEnabled() and panel.source.count() > 0, panel)
    assert panel.source.currentText() == fake_gv_camera.spec
    _read(qtbot, panel)
    row = _row(panel, "ExposureTime")
    assert "(ExposureTimeAbs)" in panel.table.item(row, 0).text()  # the camera's own name
    _edit(panel, "Width", "1001")
    _edit(panel, "ExposureTime", "abc")
    panel.apply_changes()
    _wait(
        qtbot,
        lambda: panel.apply_button.isEnabled() and "Width = 1001" in panel.message.text(),
        panel,
    )
    assert "calls it ExposureTimeAbs) takes a number (10 .. 10000000 us)" in panel.message.text()
    _shot(panel, "camera_tab_aravis.png")


def test_latency_panel_shows_the_camera_link(qtbot: Any, window: Any) -> None:
    up = builders.update()
    up.status.camera = {
        "source": "aravis://Aravis-Fake-GV01",
        "camera": {"vendor": "Aravis", "model": "Fake", "serial": "GV01"},
        "state": "open",
        "reconnects": 1,
        "stream": {
            "completed": 812,
            "incomplete": 7,
            "missing_packets": 41,
            "resent_packets": 3,
            "dropped_buffers": 0,
            "missing_frames": 2,
        },
        "clock": {"method": "estimated"},
        "trigger": {
            "mode": "software",
            "issued": 20,
            "answered": 19,
            "missing": 1,
            "latency_ms": {"p50": 13.1, "p99": 19.8},
        },
    }
    window.apply_update(up)
    label = window.latency.camera
    assert label.isVisibleTo(window) and label.text() == camera_text(up.status.camera)
    for piece in (
        "Aravis Fake GV01",
        "812 frames",
        "<b>7</b> incomplete (not judged)",
        "<b>41</b> packets missing",
        "3 resent",
        "<b>2</b> frames lost",
        "<b>1</b> reconnects",
        "estimated: a lower bound",
        "triggers 19/20 answered",
        "<b>1</b> missing",
        "p99 19.8 ms",
    ):
        assert piece in label.text(), piece
    window.apply_update(builders.update())
    assert not label.isVisibleTo(window)


@pytest.mark.xdist_group("gige-fake-camera")
def test_camera_tab_says_when_the_camera_stops_answering(
    qtbot: Any, window: Any, fake_gv_camera: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A camera frozen mid-request (here its process is stopped): the tab says it is still
    waiting and why that may be, instead of 'Reading...' with no end; the buttons stay
    busy until the request ends either way."""
    from edgeconsole.session.cameras import CameraSetupJob

    # At once: a frozen camera fails its request within a second or so, and on a loaded
    # machine the window may poll only after that (the notice then never had its moment).
    monkeypatch.setattr(CameraSetupJob, "STALL_S", 0.0)
    panel = _panel(window, fake_gv_camera.spec)
    pid = fake_gv_camera.proc.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        panel.read()
        _wait(qtbot, lambda: "has not answered" in panel.message.text(), panel)
        assert not panel.read_button.isEnabled()
        assert "another EdgeConsole" in panel.message.text()
    finally:
        os.kill(pid, signal.SIGCONT)
    _wait(qtbot, lambda: panel.read_button.isEnabled(), panel)
