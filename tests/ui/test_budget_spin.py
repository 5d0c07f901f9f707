"""The budget box: numbers, "off" and "model", typed or stepped, and hostile text."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QValidator
from pytestqt.qtbot import QtBot

from edgeconsole.ui.budget_spin import FOLLOW_MODEL, MAX_MS, OFF, BudgetSpinBox


@pytest.fixture
def box(qtbot: QtBot) -> BudgetSpinBox:
    b = BudgetSpinBox()
    qtbot.addWidget(b)
    return b


def test_values_show_as_model_off_or_milliseconds(box: BudgetSpinBox) -> None:
    box.setValue(FOLLOW_MODEL)
    assert box.follows_model and box.text() == "model"
    box.set_model_budget(250.0)
    assert box.text() == "model · 250 ms"
    box.setValue(OFF)
    assert not box.follows_model and box.text() == "off"
    box.setValue(66.0)
    assert box.text() == "66 ms"


def test_stepping_down_from_off_reaches_model(box: BudgetSpinBox) -> None:
    box.setValue(5.0)
    box.stepDown()
    assert box.value() == OFF
    box.stepDown()
    assert box.follows_model
    box.stepDown()  # the bottom: stays there
    assert box.follows_model


@pytest.mark.parametrize(
    ("typed", "value"),
    [
        ("120", 120.0),
        ("120 ms", 120.0),
        (" 7.5ms ", 8.0),
        ("off", OFF),
        ("model", FOLLOW_MODEL),
        ("model · 250 ms", FOLLOW_MODEL),
        ("99999999", MAX_MS),
    ],
)
def test_typed_text_is_parsed_and_clamped(
    qtbot: QtBot, box: BudgetSpinBox, typed: str, value: float
) -> None:
    box.setValue(33.0)
    box.lineEdit().setText(typed)
    box.interpretText()
    assert box.value() == value


@pytest.mark.parametrize("typed", ["abc", "-5", "1e9", "12;DROP", "\x00", "ms12", "🙂"])
def test_hostile_text_is_refused_and_the_value_kept(box: BudgetSpinBox, typed: str) -> None:
    box.setValue(40.0)
    state = box.validate(typed, 0)[0]
    assert state == QValidator.State.Invalid
    assert box.valueFromText(typed) == 40.0


@pytest.mark.parametrize("typed", ["", "mo", "of", "12.", "12 m"])
def test_partial_input_is_allowed_while_typing(box: BudgetSpinBox, typed: str) -> None:
    assert box.validate(typed, len(typed))[0] != QValidator.State.Invalid
