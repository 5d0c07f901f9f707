"""Choosing the trigger in the window: kind and settings, sent and remembered."""

from __future__ import annotations

from PySide6.QtCore import QSettings, Qt
from pytestqt.qtbot import QtBot

from edgeconsole.session.session import Session
from edgeconsole.ui.main_window import MainWindow
from edgeconsole.ui.trigger_menu import SHORTCUT


def test_trigger_kinds_and_settings_go_to_the_session_and_are_remembered(
    qtbot: QtBot, session: Session, settings: QSettings
) -> None:
    first = MainWindow(session, settings)
    qtbot.addWidget(first)
    control = first.trigger_control
    assert control.button.text() == "Trigger: line x=50%"  # the default: the centre line
    assert control.kind_actions["line"].isChecked() and not control.period_action.isEnabled()
    # In the toolbar and the Run menu, with its shortcut.
    assert control.button.parentWidget() is first.toolbar
    assert control.menu.menuAction() in first.run_menu.actions()
    assert control.open_action.shortcut().toString() == SHORTCUT
    assert control.open_action in first.actions()
    # External: the photo-eye's edge decides the part at the line.
    control.kind_actions["external"].trigger()
    assert session.trigger.describe() == "external:x=0.5"
    assert control.button.text() == "Trigger: external at x=50%"
    control.choose_orientation("horizontal")
    control.set_position(0.3)
    assert session.trigger.describe() == "external:y=0.3"
    # Periodic: its period, and the line settings do not apply.
    control.kind_actions["periodic"].trigger()
    assert session.trigger.describe() == "periodic:500ms"
    control.set_period(250.0)
    assert session.trigger.describe() == "periodic:250ms"
    assert not control.position_action.isEnabled() and control.period_action.isEnabled()
    assert "periodic:250ms" in first.event_log.texts()[-1]
    first.close()
    # Remembered: the next window starts with it and sends it to its session.
    other = Session()
    try:
        second = MainWindow(other, QSettings(settings.fileName(), QSettings.Format.IniFormat))
        qtbot.addWidget(second)
        assert second.trigger_control.button.text() == "Trigger: every 250 ms"
        assert other.trigger.describe() == "periodic:250ms"
        # Back to a line: the line kept its place (horizontal at 30%).
        second.trigger_control.kind_actions["line"].trigger()
        assert other.trigger.describe() == "line:y=0.3"
        second.trigger_control.centre()
        assert other.trigger.describe() == "line:y=0.5"
        second.close()
    finally:
        other.close()


def test_ctrl_t_opens_the_trigger_menu(qtbot: QtBot, window: MainWindow) -> None:
    qtbot.waitExposed(window)
    window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(window.trigger_control.menu.isVisible)
    window.trigger_control.menu.close()


def test_a_dragged_line_shows_on_the_button(window: MainWindow) -> None:
    window._on_line_moved(0, 0.25)
    assert window.trigger_control.button.text() == "Trigger: line x=25%"
    assert window.session.trigger.describe() == "line:x=0.25"  # type: ignore[attr-defined]
