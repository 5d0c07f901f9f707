from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from edgeconsole.core.frames import OverlayBanner, OverlayBox
from edgeconsole.ui.journal.replay_view import ReplayView


def _view(qtbot: QtBot, tmp_path: Path) -> ReplayView:
    view = ReplayView(tick_ms=10, workdir=tmp_path)
    qtbot.addWidget(view)
    view.resize(1200, 700)
    view.show()
    qtbot.waitExposed(view)
    return view


def test_opens_shows_first_frame_paused_with_overlay(
    qtbot: QtBot, tmp_path: Path, make_recording: Callable[..., Path]
) -> None:
    path = make_recording(frames=30)
    view = _view(qtbot, tmp_path)
    assert view.open(path)
    assert view.source is not None and not view.source.playing
    assert not view.message.isVisible()
    assert view.live_view.frame_index == 0
    overlay = view.live_view.overlay
    assert any(isinstance(o, OverlayBox) and o.label == "=FAIL()" for o in overlay)
    assert any(isinstance(o, OverlayBanner) and o.text == "frame 0" for o in overlay)
    info = view.info_label.text()
    assert "rec.mcap" in info and "Plant 4 / Ana" in info and "label-inspector v3" in info
    assert "30 frames" in info
    assert view.play_button.isEnabled() and view.play_button.text() == "▶ Play"
    # Painted for real: the view counts painted frames.
    qtbot.waitUntil(lambda: view.live_view.frames_painted >= 1)


def test_plays_to_the_end_with_latency_and_telemetry(
    qtbot: QtBot, tmp_path: Path, make_recording: Callable[..., Path]
) -> None:
    path = make_recording(frames=30)
    view = _view(qtbot, tmp_path)
    view.open(path)
    view.set_speed(4.0)
    assert view.source is not None and view.source.speed == 4.0
    view.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is view)
    qtbot.keyClick(view.live_view, Qt.Key.Key_Space)  # play (a shortcut: needs the window active)
    assert view.source.playing and view.play_button.text() == "⏸ Pause"
    qtbot.waitUntil(lambda: view.last_batch is not None and view.last_batch.ended, timeout=5000)
    assert view.live_view.frame_index == 29
    assert view.slider.value() == view.slider.maximum()
    # Latency graphs got every recorded sample; percentiles shown.
    snap = view.stats.snapshot()
    # Frame 0 was the first inference: reported on its own, kept out of the percentiles.
    assert snap.samples == 29 and snap.first_inference_ms is not None
    assert len(view.latency_panel.chart.ring) == 30
    assert view.latency_panel.table.cell_text("e2e", "p50") != "—"
    # Telemetry plot is shown and carries the recorded values in order.
    assert view.telemetry_plot.isVisibleTo(view)
    assert view.telemetry_plot.values("ax (sim://)") == [float(i) for i in range(30)]
    assert view.play_button.text() == "▶ Play"


def test_pause_and_seek(qtbot: QtBot, tmp_path: Path, make_recording: Callable[..., Path]) -> None:
    # 10 s of frames: playing a moment then pausing must not reach the end first, however
    # slowly a loaded machine runs the event loop (a 1 s recording did, in CI).
    path = make_recording(frames=300)
    view = _view(qtbot, tmp_path)
    view.open(path)
    view.seek_fraction(0.5)
    # Paused: the seek shows the frame at the middle at once (300 frames, 33 ms apart).
    assert 147 <= view.live_view.frame_index <= 152
    assert 450 <= view.slider.value() <= 550
    # The slider (as a person drags it) seeks too.
    view.slider.setValue(0)
    assert view.live_view.frame_index == 0
    view.slider.setValue(900)
    assert view.live_view.frame_index >= 265
    # Play from the start, then pause: the position stops moving.
    view.seek_fraction(0.0)
    view.play()
    qtbot.waitUntil(lambda: view.live_view.frame_index >= 3, timeout=3000)
    view.pause()
    # The frame due at the paused position may still arrive on the next tick; after
    # that one, nothing may move any more.
    view.tick()
    frozen = view.live_view.frame_index
    pos = view.source.position_ns if view.source else 0
    qtbot.wait(60)
    assert view.live_view.frame_index == frozen
    assert view.source is not None and view.source.position_ns == pos
    assert view.live_view._tag == "REPLAY · PAUSED"
    # Left/Right step 5 s: clamp to the ends of a 10 s recording.
    view.step(-5.0)
    assert view.live_view.frame_index == 0
    view.step(5.0)
    view.step(5.0)
    view.step(5.0)
    assert view.live_view.frame_index == 299


def test_cut_short_recording_says_how_much_was_kept(
    qtbot: QtBot, tmp_path: Path, make_recording: Callable[..., Path]
) -> None:
    whole = make_recording("whole.mcap", frames=60)
    data = whole.read_bytes()
    cut = tmp_path / "cut.mcap"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    view = _view(qtbot, tmp_path)
    assert view.open(cut)
    assert view.message.isVisible() and view.message.level == "warning"
    text = view.message.text.text()
    assert "cut short" in text and "messages recovered" in text and "Kept" in text
    assert view.info is not None and 0 < view.info.frames < 60
    assert f"{view.info.frames} frames" in text
    # What was kept plays.
    view.set_speed(4.0)
    view.play()
    qtbot.waitUntil(lambda: view.last_batch is not None and view.last_batch.ended, timeout=5000)
    assert view.live_view.frame_index == view.info.frames - 1


def test_unreadable_file_is_explained(qtbot: QtBot, tmp_path: Path) -> None:
    bad = tmp_path / "garbage.mcap"
    bad.write_bytes(b"\x89MCAP0\r\n" + b"\x00garbage" * 100)
    view = _view(qtbot, tmp_path)
    assert view.open(tmp_path / "missing.mcap") is False
    assert view.message.level == "error" and "recording not found" in view.message.text.text()
    assert view.open(bad) is False
    assert view.message.level == "error"
    text = view.message.text.text()
    assert "garbage.mcap" in text and "nothing in it could be read" in text
    assert view.reader is None and not view.play_button.isEnabled()
    # A text file with an .mcap name: same, with the reader's reason.
    bad.write_text("hello, not a recording\n" * 20)
    assert view.open(bad) is False and "invalid magic" in view.message.text.text()
