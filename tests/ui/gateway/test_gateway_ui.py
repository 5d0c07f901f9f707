"""Gateways in a real window (offscreen) against a real agent on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings
from pytestqt.qtbot import QtBot

from edgeconsole.session.gateway_stream import stream_spec
from edgeconsole.session.session import Session
from edgeconsole.ui.gateway.add_dialog import AddGatewayDialog, normalise_address
from edgeconsole.ui.latency_panel import ROWS
from edgeconsole.ui.main_window import MainWindow

WAIT_MS = 30_000
CAMERA = "synthetic:conveyor?seed=5&fps=15"


@pytest.fixture(autouse=True)
def _config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGECONSOLE_CONFIG_DIR", str(tmp_path / "config"))


@pytest.fixture
def win(qtbot: QtBot, settings: QSettings, gateway_kit: Any) -> Iterator[MainWindow]:
    session = Session(trust_dir=gateway_kit.trust_dir)
    w = MainWindow(session, settings)
    qtbot.addWidget(w)
    w.resize(1500, 950)
    w.show()
    assert w.devices is not None
    # Discovery asks loopback only: nothing leaves this machine in tests.
    w.devices.discover_gateways = lambda: session.targets.discover_gateways(
        3.0, interfaces=["127.0.0.1"]
    )
    yield w
    w.close()
    session.close()


def gateway_rows(w: MainWindow) -> list[str]:
    g = w.targets.group("gateway")
    out = []
    for i in range(g.childCount()):
        item = g.child(i)
        out.append(item.text(0))
        out.extend(item.child(j).text(0) for j in range(item.childCount()))
    return out


def connect(qtbot: QtBot, w: MainWindow, agent: Any) -> str:
    assert w.devices is not None
    url = w.devices.connect_gateway(agent.gateway_url, agent.token)
    assert url == agent.gateway_url
    qtbot.waitUntil(lambda: w.devices.panel.state_label.text() == "Connected", timeout=WAIT_MS)
    return url


def test_normalise_address() -> None:
    assert normalise_address(" 10.0.0.5:8470 ") == "gateway://10.0.0.5:8470"
    assert normalise_address("http://h:1/") == "gateway://h:1"
    assert normalise_address("oip://triton:8000") == "oip://triton:8000"
    assert normalise_address("") == ""
    # TargetRef.parse, the one URL parser: the default port, a host's case, the options
    assert normalise_address("10.0.0.5") == "gateway://10.0.0.5:8470"
    assert normalise_address("HTTP://GW.local:9000") == "gateway://gw.local:9000"
    assert normalise_address("oip://t:8000/?model=m") == "oip://t:8000?model=m"
    assert normalise_address("gateway://h:99999") == "gateway://h:99999"  # said on connect


def test_add_gateway_dialog_discovers_on_loopback_and_connects_with_a_token_file(
    qtbot: QtBot, win: MainWindow, start_gateway_agent: Any, tmp_path: Path
) -> None:
    agent = start_gateway_agent(mdns=True, name="gw-ui-test")
    ui = win.devices
    assert ui is not None
    dialog = AddGatewayDialog(ui.discover_gateways, win)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: not dialog.searching, timeout=WAIT_MS)
    items = [dialog.found.item(i) for i in range(dialog.found.count())]
    ours = next(i for i in items if "gw-ui-test" in i.text())
    dialog.found.setCurrentItem(ours)
    assert dialog.url() == f"gateway://127.0.0.1:{agent.port}"
    token = tmp_path / "token"
    token.write_text(agent.token)
    dialog.set_token_file(str(token))
    assert dialog.token_text() is None and dialog.token_file == str(token)
    ui.connect_gateway(dialog.url(), dialog.token_text(), dialog.token_file)
    qtbot.waitUntil(lambda: ui.panel.state_label.text() == "Connected", timeout=WAIT_MS)
    panel = ui.panel
    assert panel.title.text() == "gw-ui-test"
    assert panel.fields["health"].text() == "live, ready"
    assert "digits" in panel.fields["models"].text()
    assert panel.fields["firmware"].text().startswith("edgeconsole")
    assert panel.form.labelForField(panel.fields["url"]).text() == "Address:"  # type: ignore[union-attr]
    assert panel.slots.rowCount() == 2 and panel.slots.item(0, 1).text() == "empty"
    assert panel.flash_button.isEnabled() and not panel.confirm_button.isEnabled()
    assert not panel.watch_box.isVisible()  # no camera on this agent
    assert any("gw-ui-test" in r and "Connected" in r for r in gateway_rows(win))
    dialog.close()


def test_wrong_token_says_so(qtbot: QtBot, win: MainWindow, gateway_agent: Any) -> None:
    ui = win.devices
    assert ui is not None
    ui.connect_gateway(gateway_agent.gateway_url, "wrong-token")
    qtbot.waitUntil(lambda: ui.panel.state_label.text() == "Not connected", timeout=WAIT_MS)
    assert "refused the token" in ui.panel.error_label.text()
    assert ui.panel.error_label.isVisible() and not ui.panel.flash_button.isEnabled()


def test_flash_with_progress_then_confirm_and_rollback(
    qtbot: QtBot,
    win: MainWindow,
    gateway_agent: Any,
    gateway_kit: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    connect(qtbot, win, gateway_agent)
    panel = win.devices.panel  # type: ignore[union-attr]
    seen: list[str] = []
    orig = panel.show_job

    def spy(job: Any) -> None:
        orig(job)
        seen.append(panel.progress_text.text())

    monkeypatch.setattr(panel, "show_job", spy)
    panel.flash(str(gateway_kit.bundle(1, padding=8_000_000)))
    qtbot.waitUntil(lambda: "Flash done" in panel.progress_text.text(), timeout=WAIT_MS)
    assert panel.progress.value() == 1000
    assert any("/s" in s and "ETA" in s for s in seen), seen
    qtbot.waitUntil(lambda: panel.confirm_button.isEnabled(), timeout=WAIT_MS)
    trial = next(
        r for r in range(panel.slots.rowCount()) if "trial" in panel.slots.item(r, 1).text()
    )
    assert panel.slots.item(trial, 3).text() == "digits-mlp"
    panel.confirm_button.click()
    qtbot.waitUntil(lambda: panel.slots.item(trial, 1).text() == "confirmed", timeout=WAIT_MS)
    assert "digits-mlp v1" in panel.fields["running"].text()
    panel.flash(str(gateway_kit.bundle(2)))
    qtbot.waitUntil(lambda: panel.confirm_button.isEnabled(), timeout=WAIT_MS)
    assert "v2 is on trial" in panel.trial_hint.text()
    panel.rollback_button.click()
    qtbot.waitUntil(lambda: not panel.confirm_button.isEnabled(), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: "digits-mlp v1" in panel.fields["running"].text(), timeout=WAIT_MS)


def test_watch_stream_shows_frames_and_a_network_stage(
    qtbot: QtBot, win: MainWindow, start_gateway_agent: Any, gateway_kit: Any
) -> None:
    agent = start_gateway_agent(cameras=[CAMERA])
    url = connect(qtbot, win, agent)
    ui = win.devices
    assert ui is not None
    job = win.session.targets.flash(url, gateway_kit.bundle(1), mode="confirm")  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: win.session.targets.job(job).finished, timeout=WAIT_MS)  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: ui.panel.watch_box.isVisible(), timeout=WAIT_MS)
    assert "synthetic:conveyor" in ui.panel.camera_combo.currentText()
    assert any("Camera 0: synthetic:conveyor" in r for r in gateway_rows(win))
    ui.panel.watch_button.click()
    assert win.source == stream_spec(url, 0)
    qtbot.waitUntil(lambda: win.status.state == "running", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: win.live_view.frame_index > 0, timeout=WAIT_MS)
    lat = win.latency
    qtbot.waitUntil(lambda: lat.optional == ("network",), timeout=WAIT_MS)
    assert "network" in lat.legend.text()
    assert not lat.table.isRowHidden(ROWS.index("network"))
    qtbot.waitUntil(lambda: lat.table.cell_text("network", "p50") != "—", timeout=WAIT_MS)
    assert "digits-mlp v1" in win.status.model and win.live_view.overlay
    # Stop ends it; picking the camera in the tree starts it again.
    win.stop()
    qtbot.waitUntil(lambda: win.status.state == "stopped", timeout=WAIT_MS)
    g = win.targets.group("gateway").child(0)
    win.targets.setCurrentItem(g.child(0))
    qtbot.waitUntil(lambda: win.status.state == "running", timeout=WAIT_MS)
    first = win.live_view.frame_index
    qtbot.waitUntil(lambda: win.live_view.frame_index != first, timeout=WAIT_MS)
    win.stop()
    qtbot.waitUntil(lambda: win.status.state == "stopped", timeout=WAIT_MS)


def test_agent_killed_then_back_reconnects(
    qtbot: QtBot, win: MainWindow, start_gateway_agent: Any, gateway_kit: Any
) -> None:
    from tests.session.test_gateway_targets import restart_agent

    agent = start_gateway_agent()
    connect(qtbot, win, agent)
    panel = win.devices.panel  # type: ignore[union-attr]
    port = agent.port
    agent.background.stop()
    qtbot.waitUntil(lambda: panel.state_label.text().startswith("Disconnected"), timeout=WAIT_MS)
    assert not panel.flash_button.isEnabled()
    again = restart_agent(agent.data_dir, agent.token, port, gateway_kit)
    try:
        qtbot.waitUntil(lambda: panel.state_label.text() == "Connected", timeout=WAIT_MS)
        assert "1 link loss(es)" in panel.fields["protocol"].text()
    finally:
        again.stop()


def test_oip_server_infers_the_laptop_source(
    qtbot: QtBot, win: MainWindow, gateway_agent: Any
) -> None:
    from edgeconsole.devices.gateway.oip import OipClient
    from edgeconsole.session.session import DEMO_SOURCE

    client = OipClient(gateway_agent.url, gateway_agent.token)
    client.load("digits")
    client.close()
    ui = win.devices
    assert ui is not None
    ui.connect_gateway(f"oip://127.0.0.1:{gateway_agent.port}", gateway_agent.token)
    panel = ui.panel
    qtbot.waitUntil(lambda: panel.state_label.text() == "Connected", timeout=WAIT_MS)
    assert panel.form.labelForField(panel.fields["firmware"]).text() == "Server:"  # type: ignore[union-attr]
    assert "no slots" in panel.fields["protocol"].text() and not panel.flash_button.isEnabled()
    assert panel.remote_box.isVisible() and not panel.watch_box.isVisible()
    panel.model_combo.setCurrentText("digits")
    win.choose_source(DEMO_SOURCE)
    win.choose_model(str(Path(__file__).resolve().parents[3] / "sample_models" / "digits"))
    panel.remote_button.click()
    qtbot.waitUntil(lambda: win.status.state == "running", timeout=WAIT_MS)
    assert "infer (remote) digits on oip://" in win.status.model
    qtbot.waitUntil(lambda: win.live_view.frame_index > 0, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: win.latency.table.cell_text("infer", "p50") != "—", timeout=WAIT_MS)
    win.stop()
    qtbot.waitUntil(lambda: win.status.state == "stopped", timeout=WAIT_MS)
