"""The window's PLC view against the virtual PLC: watch it, arm the test mode (asked
first), see the counters, the timeline and the parts; a monitor started elsewhere
(the demo's) is shown when the view opens."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QMessageBox

from edgeconsole.devices.plc.plcmap import load_map, sample_map_path
from edgeconsole.sim.plc import VirtualPlc
from edgeconsole.sources.belt import BeltTiming

pytestmark = pytest.mark.xdist_group("plc")

SHOTS = Path(os.environ["EDGECONSOLE_SHOTS"]) if os.environ.get("EDGECONSOLE_SHOTS") else None


@pytest.fixture
def plc() -> Any:
    p = VirtualPlc(
        load_map(sample_map_path()),
        belt=BeltTiming.for_frame(1280, 720, parts_per_min=600),
        port=0,
    )
    p.start()
    yield p
    p.stop()


def _panel(window: Any, plc: VirtualPlc, role: str) -> Any:
    panel = window.workspaces.show_panel("PLC")
    panel.url.setText(f"modbus://127.0.0.1:{plc.port}")
    panel.map_path.setText(str(sample_map_path()))
    panel.role.setCurrentIndex(panel.role.findData(role))
    return panel


def test_test_mode_is_asked_for_and_a_no_writes_nothing(
    qtbot: Any, window: Any, plc: VirtualPlc, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []

    def refuse(*args: Any, **kw: Any) -> QMessageBox.StandardButton:
        asked.append(str(args[2]))
        return QMessageBox.StandardButton.Cancel

    monkeypatch.setattr(QMessageBox, "warning", refuse)
    panel = _panel(window, plc, "test")
    assert panel.pattern.isVisibleTo(panel)
    panel.start()
    assert asked and "WRITES to the PLC" in asked[0]
    assert window.session.plc is None and panel.start_button.isEnabled()


def test_armed_test_mode_answers_and_the_view_shows_it(
    qtbot: Any, window: Any, plc: VirtualPlc, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: QMessageBox.StandardButton.Yes)
    panel = _panel(window, plc, "test")
    panel.pattern.setCurrentIndex(panel.pattern.findData("ng"))
    panel.start()
    qtbot.waitUntil(lambda: panel.table.rowCount() >= 5, timeout=60000)
    assert not panel.form_box.isVisibleTo(panel) and panel.stop_button.isVisibleTo(panel)
    assert "TEST MODE ARMED" in panel.state.text()
    # The link's state in words, not the runner's ("idle").
    qtbot.waitUntil(lambda: "ready: waiting for the next trigger" in panel.state.text())
    assert "idle" not in panel.state.text()
    assert int(panel.counter_labels["answered"].text()) >= 5
    assert panel.table.item(0, 3).text() == "NG"  # what the PLC acknowledged
    assert "trigger → result p50" in panel.latency.text()
    # The timeline drew edges of both sides of the handshake.
    tl = panel.timeline
    assert tl.level_at("trigger_ready", tl.now_ns) is not None
    assert any(v == 1 for _, v in tl._edges["results_ready"])
    assert any(v == 1 for _, v in tl._edges["ng"]) and not any(v for _, v in tl._edges["ok"])
    if SHOTS is not None:
        window.grab().save(str(SHOTS / "plc_test_mode.png"))
    panel.stop()
    assert window.session.plc is None and panel.form_box.isVisibleTo(panel)
    assert plc.stats.answered >= 5


def test_watch_is_read_only_and_counts_what_it_sees(
    qtbot: Any, window: Any, plc: VirtualPlc
) -> None:
    panel = _panel(window, plc, "watch")
    panel.start()
    qtbot.waitUntil(lambda: window.session.plc is not None, timeout=10000)
    qtbot.waitUntil(lambda: "watching" in panel.state.text(), timeout=30000)
    # Nobody answers: the PLC never triggers a camera that is not ready.
    qtbot.waitUntil(lambda: plc.stats.not_ready >= 3, timeout=30000)
    assert panel.counter_labels["triggers"].text() == "0" and plc.stats.triggers == 0


def test_a_monitor_started_elsewhere_is_shown_when_the_view_opens(
    qtbot: Any, window: Any, plc: VirtualPlc
) -> None:
    window.session.start_plc(
        f"modbus://127.0.0.1:{plc.port}", sample_map_path(), "test", test_pattern="ok"
    )
    qtbot.waitUntil(lambda: plc.stats.acks >= 3, timeout=30000)
    # The PLC counts an ack when it gives it; the camera's record of that part follows
    # once it has seen the ack and reset (a CI run at load opened the view in between).
    qtbot.waitUntil(lambda: window.session.plc.counters()["answered"] >= 3, timeout=30000)
    panel = window.workspaces.show_panel("PLC")
    assert panel.url.text() == f"modbus://127.0.0.1:{plc.port}"
    assert panel.table.rowCount() >= 3  # the history, not only what comes next
    assert panel.role.currentData() == "test" and panel.stop_button.isVisibleTo(panel)


def test_a_plc_that_cannot_be_reached_is_said_in_the_view(qtbot: Any, window: Any) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    panel = window.workspaces.show_panel("PLC")
    panel.url.setText(f"modbus://127.0.0.1:{port}")
    panel.map_path.setText(str(sample_map_path()))
    panel.role.setCurrentIndex(panel.role.findData("watch"))
    panel.start()
    qtbot.waitUntil(lambda: "Not connected" in panel.state.text(), timeout=30000)
    assert "cannot reach the PLC" in panel.state.text()
    assert panel.form_box.isVisibleTo(panel) and panel.start_button.isEnabled()


def test_answering_without_a_per_part_pipeline_says_it_is_not_ready(
    qtbot: Any, window: Any, plc: VirtualPlc
) -> None:
    panel = _panel(window, plc, "gate")
    panel.start()
    qtbot.waitUntil(lambda: "not ready" in panel.state.text(), timeout=30000)
    assert "per-part pipeline" in panel.state.text() and plc.stats.triggers == 0
