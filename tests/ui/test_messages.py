from __future__ import annotations

from pytestqt.qtbot import QtBot

from edgeconsole.session.update import Event
from edgeconsole.ui.messages import BusyBar, EventLog, MessageBar


def test_message_bar_levels_repeats_and_dismiss(qtbot: QtBot) -> None:
    bar = MessageBar()
    qtbot.addWidget(bar)
    bar.show_event(Event(level="error", text="video.mp4: cannot be decoded"))
    assert bar.isVisible() and bar.level == "error"
    bar.show_event(Event(level="error", text="video.mp4: cannot be decoded"))
    assert bar.text.text().endswith("(×2)")  # counted, not flickering
    bar.show_message("warning", "stream stalled")
    assert bar.level == "warning" and bar.text.text() == "stream stalled"
    bar.dismiss_button.click()
    assert not bar.isVisible()
    bar.show_message("warning", "stream stalled")
    assert bar.text.text() == "stream stalled"  # a new showing starts the count again


def test_event_log_is_bounded_and_keeps_newest(qtbot: QtBot) -> None:
    log = EventLog(max_items=5)
    qtbot.addWidget(log)
    for i in range(12):
        log.add_event(
            Event(
                level="info",
                text=f"event {i}",
                kind="test",
                wall_time="2026-01-01T10:11:12.000+00:00",
            )
        )
    texts = log.texts()
    assert len(texts) == 5 and texts[-1].endswith("event 11") and "event 7" in texts[0]
    assert texts[0].startswith("10:11:12")


def test_busy_bar_cancel_signal(qtbot: QtBot) -> None:
    busy = BusyBar()
    qtbot.addWidget(busy)
    busy.start("Opening camera 0…")
    assert busy.isVisible() and busy.label.text() == "Opening camera 0…"
    with qtbot.waitSignal(busy.cancel_requested):
        busy.cancel_button.click()
    busy.finish()
    assert not busy.isVisible()
