"""The device panel and telemetry view in a real window, against a real pty device."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from edgeconsole.session.session import Session
from edgeconsole.sim.device import VirtualSerialDevice
from edgeconsole.ui.devices.connect_dialog import ConnectDialog
from edgeconsole.ui.main_window import MainWindow

ROOT = Path(__file__).resolve().parents[3]
TRUST = ROOT / "sample_models" / "trust"
DIGITS = ROOT / "sample_models" / "bundles" / "digits-1.ecb"
WAIT_MS = 20_000


@pytest.fixture
def win(qtbot: QtBot, settings: QSettings) -> Iterator[MainWindow]:
    session = Session(trust_dir=TRUST)
    w = MainWindow(session, settings)
    qtbot.addWidget(w)
    w.resize(1500, 950)
    w.show()
    yield w
    w.close()
    session.close()


def tree_labels(w: MainWindow) -> list[str]:
    g = w.targets.group("serial")
    return [g.child(i).text(0) for i in range(g.childCount())]


def connect(qtbot: QtBot, w: MainWindow, dev: VirtualSerialDevice) -> str:
    assert w.devices is not None
    url = w.devices.connect_url(str(dev.path))
    assert url is not None
    qtbot.waitUntil(lambda: w.devices.panel.state_label.text() == "Connected", timeout=WAIT_MS)
    return url


def test_connect_shows_identity_slots_tree_and_telemetry(
    qtbot: QtBot, win: MainWindow, serial_device: Any
) -> None:
    dev = serial_device(rate=200.0)
    connect(qtbot, win, dev)
    ui = win.devices
    assert ui is not None
    panel = ui.panel
    assert panel.title.text() == "edgeconsole-virtual"
    assert panel.fields["serial"].text() == "VIRT0001"
    assert panel.fields["firmware"].text() == "1.0.0"
    assert "vibration-anomaly v1" in panel.fields["running"].text()
    assert panel.slots.rowCount() == 2
    assert (
        panel.slots.item(0, 1).text() == "confirmed" and "running" in panel.slots.item(0, 2).text()
    )
    assert panel.slots.item(1, 1).text() == "empty"
    assert any("edgeconsole-virtual" in t and "Connected" in t for t in tree_labels(win))
    assert panel.flash_button.isEnabled() and not panel.confirm_button.isEnabled()
    tv = ui.telemetry
    qtbot.waitUntil(lambda: len(tv.series("accel_z_g")[0]) > 100, timeout=WAIT_MS)
    names = tv.plot_names()
    assert any("accel_x_g" in n for n in names) and any("score" in n for n in names)
    assert tv.stats.rowCount() == 6 and tv.stats.item(0, 0).text() == "accel_x_g"
    assert "lines/s" in tv.rate_label.text() and tv.dropped_label.text() == "dropped 0"
    qtbot.waitUntil(lambda: tv.shadow_status.compared >= 2, timeout=WAIT_MS)
    assert "matches" in tv.shadow_label.text()
    assert tv._threshold_line is not None and tv._threshold_line.isVisible()
    assert abs(tv._threshold_line.value() - 2.2226) < 1e-6
    qtbot.waitUntil(lambda: len(tv.series("__shadow__")[0]) >= 2, timeout=WAIT_MS)
    # Pause: curves stop following, new samples still arrive.
    tv.pause_button.click()
    frozen = len(tv.series("accel_z_g")[0])
    qtbot.wait(300)
    assert len(tv.series("accel_z_g")[0]) == frozen and tv._ring.n > 0
    tv.pause_button.click()
    qtbot.waitUntil(lambda: tv.redraws > 0 and not tv.paused, timeout=WAIT_MS)


def test_flash_progress_confirm_and_rollback(
    qtbot: QtBot, win: MainWindow, serial_device: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    dev = serial_device(baud=230400)  # paced: a visible progress bar
    connect(qtbot, win, dev)
    panel = win.devices.panel  # type: ignore[union-attr]
    seen: list[str] = []
    orig = panel.show_job

    def spy(job: Any) -> None:
        orig(job)
        seen.append(panel.progress_text.text())

    monkeypatch.setattr(panel, "show_job", spy)
    panel.flash(str(DIGITS))
    qtbot.waitUntil(lambda: "Flash done" in panel.progress_text.text(), timeout=WAIT_MS)
    assert panel.progress.value() == 1000
    assert any("KB/s" in s and "ETA" in s for s in seen), seen
    qtbot.waitUntil(lambda: panel.confirm_button.isEnabled(), timeout=WAIT_MS)
    assert panel.slots.item(1, 1).text().startswith("trial")
    assert panel.slots.item(1, 3).text() == "digits"
    panel.confirm_button.click()
    qtbot.waitUntil(lambda: panel.slots.item(1, 1).text() == "confirmed", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: panel.rollback_button.isEnabled(), timeout=WAIT_MS)
    panel.rollback_button.click()
    qtbot.waitUntil(lambda: "vibration-anomaly" in panel.fields["running"].text(), timeout=WAIT_MS)


def test_confirm_without_check_asks_first(
    qtbot: QtBot, win: MainWindow, serial_device: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    connect(qtbot, win, serial_device())
    panel = win.devices.panel  # type: ignore[union-attr]
    panel.flash(str(DIGITS))
    qtbot.waitUntil(lambda: panel.confirm_button.isEnabled(), timeout=WAIT_MS)
    asked: list[str] = []

    def answer(_parent: Any, _title: str, text: str, *_a: Any) -> QMessageBox.StandardButton:
        asked.append(text)
        return (
            QMessageBox.StandardButton.Cancel if len(asked) == 1 else QMessageBox.StandardButton.Yes
        )

    monkeypatch.setattr(QMessageBox, "warning", answer)
    panel.no_check_action.trigger()  # Cancel: nothing happens
    qtbot.wait(200)
    assert panel.slots.item(1, 1).text().startswith("trial")
    panel.no_check_action.trigger()  # Yes
    qtbot.waitUntil(lambda: panel.slots.item(1, 1).text() == "confirmed", timeout=WAIT_MS)
    assert "WITHOUT" in asked[0] and "health check" in asked[0]


def test_unplug_shows_disconnected_then_reconnects(
    qtbot: QtBot, win: MainWindow, tmp_path: Path
) -> None:
    dev = VirtualSerialDevice(tmp_path / "dev", rate=100.0)
    dev.start()
    try:
        connect(qtbot, win, dev)
    finally:
        dev.stop()  # killed: the pty goes away
    panel = win.devices.panel  # type: ignore[union-attr]
    qtbot.waitUntil(lambda: panel.state_label.text().startswith("Disconnected"), timeout=WAIT_MS)
    assert not panel.flash_button.isEnabled()
    assert any("Disconnected" in t for t in tree_labels(win))
    back = VirtualSerialDevice(tmp_path / "dev", rate=100.0)
    back.start()
    try:
        qtbot.waitUntil(lambda: panel.state_label.text() == "Connected", timeout=WAIT_MS)
        assert "1 unplug" in panel.fields["protocol"].text()
        tv = win.devices.telemetry  # type: ignore[union-attr]
        n = tv._ring.n
        qtbot.waitUntil(lambda: tv._ring.n > n + 20, timeout=WAIT_MS)
    finally:
        back.stop()


def test_connect_dialog_builds_the_url(qtbot: QtBot) -> None:
    ports = [
        {
            "device": "/dev/ttyACM0",
            "description": "Zephyr CDC",
            "usb_id": "2fe3:0100",
            "serial_number": "ABC",
        }
    ]
    d = ConnectDialog(lambda: ports)
    qtbot.addWidget(d)
    assert "USB 2fe3:0100" in d.ports.item(0).text()
    d.ports.setCurrentRow(0)
    assert d.url() == "serial:///dev/ttyACM0?baud=115200"
    d.path.setText("/tmp/x/tty")
    d.baud.setCurrentText("921600")
    assert d.url() == "serial:///tmp/x/tty?baud=921600"
    d.path.setText("")
    assert d.url() == ""
    broken = ConnectDialog(lambda: (_ for _ in ()).throw(OSError("no sysfs")))
    qtbot.addWidget(broken)
    assert "no sysfs" in broken.note.text()


def test_demo_device_is_shown_connected_and_streaming(qtbot: QtBot, win: MainWindow) -> None:
    assert win.devices is not None
    win.devices.start_demo()
    panel, tv = win.devices.panel, win.devices.telemetry
    qtbot.waitUntil(lambda: panel.state_label.text() == "Connected", timeout=30_000)
    qtbot.waitUntil(lambda: len(tv.series("accel_x_g")[0]) > 20, timeout=WAIT_MS)
    assert panel.flash_button.isEnabled()
    assert win.devices.telemetry_dock.isVisible() and win.devices.panel_dock.isVisible()


def test_window_demo_keeps_latency_in_front_of_the_device_telemetry(
    qtbot: QtBot, win: MainWindow
) -> None:
    assert win.devices is not None
    win.start_demo()  # the laptop pipeline and the virtual device together
    qtbot.waitUntil(lambda: win.devices.panel.state_label.text() == "Connected", timeout=30_000)
    assert win.status.state in ("opening", "running")
    # The latency tab is the one on screen; the telemetry tab sits behind it.
    assert not win.latency.visibleRegion().isEmpty()
    assert win.devices.telemetry.visibleRegion().isEmpty()
    win.stop()
    qtbot.waitUntil(lambda: win.status.state == "stopped", timeout=WAIT_MS)


def test_a_demo_gateway_that_fell_back_says_what_runs_instead_of_its_flash_error(
    win: MainWindow,
) -> None:
    """A busy machine fails the fast bundle's 5 ms health check on the demo gateway; the
    demo then runs the label inspector there. The flash error stays in the event log;
    the bar says what runs now."""
    import threading
    from types import SimpleNamespace

    from edgeconsole.core.clock import wall_iso
    from edgeconsole.session.update import Event

    assert win.devices is not None
    url = "gateway://127.0.0.1:41389"
    ready = threading.Event()
    ready.set()
    note = (
        "the fast inspector did not pass its health check there (p95 latency 34.38 ms "
        "over the budget of 5 ms: this machine is busy); it runs the label inspector instead"
    )
    win.devices._demo = SimpleNamespace(gateway_ready=ready, gateway_note=note, gateway_url=url)
    win.report(Event("error", f"{url}: flash failed: health check", "device", wall_iso()))
    assert win.message_bar.level == "error"
    win.devices.apply(win.session.poll())  # type: ignore[attr-defined]
    assert win.message_bar.level == "warning" and "label inspector instead" in (
        win.message_bar.text.text()
    )
    assert any("flash failed" in t for t in win.event_log.texts())
