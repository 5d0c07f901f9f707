"""A stock Zephyr/MCUboot device in the real window (offscreen), against the stock
virtual device: capabilities and greyed-out features with their reasons, firmware
upgrade and its states, files, live statistics, the shell console."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from edgeconsole.session.session import Session
from edgeconsole.sim.stock_device import StockSerialDevice
from edgeconsole.ui.main_window import MainWindow

ROOT = Path(__file__).resolve().parents[3]
TRUST = ROOT / "sample_models" / "trust"
WAIT_MS = 30_000


@pytest.fixture
def win(qtbot: QtBot, settings: QSettings) -> Iterator[MainWindow]:
    session = Session(trust_dir=TRUST)
    w = MainWindow(session, settings)
    qtbot.addWidget(w)
    w.resize(1500, 1000)
    w.show()
    yield w
    w.close()
    session.close()


def connect(qtbot: QtBot, w: MainWindow, dev: StockSerialDevice) -> Any:
    ui = w.devices
    assert ui is not None
    url = ui.connect_url(str(dev.path))
    assert url is not None
    panel = ui.panel
    qtbot.waitUntil(
        lambda: panel.state_label.text() == "Connected" and panel.stock_panel.isVisible(),
        timeout=WAIT_MS,
    )
    return panel


def shot(widget: Any, name: str) -> None:
    """EDGECONSOLE_SHOTS=DIR keeps a PNG of what the test saw (to look at it)."""
    out = os.environ.get("EDGECONSOLE_SHOTS")
    if out:
        QTest.qWait(150)  # let the layout settle, as the person sees it
        Path(out).mkdir(parents=True, exist_ok=True)
        widget.grab().save(str(Path(out) / name))


def test_capabilities_and_greyed_out_features(
    qtbot: QtBot, win: MainWindow, stock_device: Any
) -> None:
    dev = stock_device(groups=frozenset({0, 1, 8}), mode="overwrite")
    panel = connect(qtbot, win, dev)
    sp = panel.stock_panel
    assert not panel.slots.isVisible() and not panel.flash_button.isVisible()
    assert "SMP (MCUmgr standard groups" in panel.fields["protocol"].text()
    assert "firmware 1.0.0 (slot 0, confirmed)" in panel.fields["running"].text()
    assert "overwrite only" in sp.summary.text() and "no revert" in sp.summary.text()
    shell = sp.cap_labels["shell"]
    assert not shell.isEnabled() and "CONFIG_MCUMGR_GRP_SHELL" in shell.text()
    assert "Files" in sp.caps_ok.text() and "Shell" not in sp.caps_ok.text()
    assert "cannot revert" in sp.caps_ok.toolTip()
    tabs = sp.tabs
    assert tabs.isTabEnabled(1) and tabs.isTabEnabled(2)
    assert not tabs.isTabEnabled(3) and "CONFIG_MCUMGR_GRP_STAT" in tabs.tabToolTip(3)
    assert not tabs.isTabEnabled(4) and "CONFIG_MCUMGR_GRP_SHELL" in tabs.tabToolTip(4)
    assert sp.images.rowCount() == 2 and sp.images.item(1, 2).text() == "empty"
    assert sp.upgrade_button.isEnabled()
    for b, why in (
        (sp.confirm_button, "nothing on test"),
        (sp.revert_button, "nothing to revert"),
        (sp.erase_button, "slot 1 is empty"),
    ):
        assert not b.isEnabled() and why in b.toolTip()
    shot(panel, "stock_panel_bare.png")


def test_upgrade_on_test_then_confirm_in_the_window(
    qtbot: QtBot, win: MainWindow, stock_device: Any, signed_image: Any, tmp_path: Path
) -> None:
    dev = stock_device()
    panel = connect(qtbot, win, dev)
    sp = panel.stock_panel
    sp.tabs.setCurrentIndex(1)
    image = tmp_path / "fw-1.1.0.signed.bin"
    image.write_bytes(signed_image(dev, "1.1.0", size=120_000))
    choice = {"keys": (str(dev.key_path),), "mode": "test", "permanent": False}
    sp.upgrade(str(image), choice)
    qtbot.waitUntil(lambda: "Firmware done" in panel.progress_text.text(), timeout=WAIT_MS)
    assert "1.0.0 → 1.1.0: on test" in panel.progress_text.text()
    qtbot.waitUntil(lambda: sp.confirm_button.isEnabled(), timeout=WAIT_MS)
    assert "ON TEST" in sp.images.item(0, 2).text()
    assert sp.images.item(1, 2).text() == "fallback (confirmed)"
    assert "Confirm keeps it; Revert (or any reset) returns to 1.0.0" in sp.image_hint.text()
    assert not sp.upgrade_button.isEnabled() and "finish the test" in sp.upgrade_button.toolTip()
    assert not sp.erase_button.isEnabled() and "fallback" in sp.erase_button.toolTip()
    shot(panel, "stock_panel_on_test.png")
    qtbot.mouseClick(sp.confirm_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: sp.images.item(0, 2).text() == "runs · confirmed", timeout=WAIT_MS)
    assert panel.fields["firmware"].text() == "1.1.0"
    qtbot.waitUntil(lambda: sp.erase_button.isEnabled(), timeout=WAIT_MS)


def test_refused_image_is_a_sentence_in_the_window(
    qtbot: QtBot, win: MainWindow, stock_device: Any, signed_image: Any, tmp_path: Path
) -> None:
    dev = stock_device()
    other = stock_device("other")
    panel = connect(qtbot, win, dev)
    image = tmp_path / "foreign.bin"
    image.write_bytes(signed_image(other, "2.0.0"))
    choice = {"keys": (str(dev.key_path),), "mode": "confirm", "permanent": False}
    panel.stock_panel.upgrade(str(image), choice)
    qtbot.waitUntil(lambda: "Firmware failed" in panel.progress_text.text(), timeout=WAIT_MS)
    assert "not by a key you trust" in panel.progress_text.text()


def test_shell_console_and_live_statistics(
    qtbot: QtBot, win: MainWindow, stock_device: Any
) -> None:
    dev = stock_device()
    panel = connect(qtbot, win, dev)
    sp = panel.stock_panel
    sp.tabs.setCurrentIndex(4)
    shell = sp.shell_tab
    qtbot.keyClicks(shell.line, "kernel version")
    qtbot.keyClick(shell.line, Qt.Key.Key_Return)
    qtbot.waitUntil(
        lambda: "Zephyr version 3.7.0" in shell.transcript.toPlainText(), timeout=WAIT_MS
    )
    qtbot.waitUntil(lambda: shell.run_button.isEnabled(), timeout=WAIT_MS)
    qtbot.keyClicks(shell.line, "nope")
    qtbot.keyClick(shell.line, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: "[returned -8]" in shell.transcript.toPlainText(), timeout=WAIT_MS)
    qtbot.keyClick(shell.line, Qt.Key.Key_Up)
    assert shell.line.text() == "nope"
    qtbot.keyClick(shell.line, Qt.Key.Key_Up)
    assert shell.line.text() == "kernel version"
    shot(panel, "stock_panel_shell.png")

    sp.tabs.setCurrentIndex(3)
    stats = sp.stats_tab
    stats._plots.build()
    stats.live.setChecked(True)
    qtbot.waitUntil(lambda: stats.table.rowCount() >= 5, timeout=WAIT_MS)
    rows = {stats.table.item(r, 1).text() for r in range(stats.table.rowCount())}
    assert {"ticks", "rx_frames", "uploads"} <= rows
    qtbot.waitUntil(lambda: len(stats.plotted()[0]) >= 3, timeout=WAIT_MS)
    shot(panel, "stock_panel_stats.png")
    sp.tabs.setCurrentIndex(1)  # leaving the tab stops the reads
    ui = win.devices
    assert ui is not None
    qtbot.waitUntil(lambda: not ui.views[panel.view.url].stock.watching, timeout=WAIT_MS)
