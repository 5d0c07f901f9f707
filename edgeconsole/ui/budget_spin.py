"""The toolbar's latency-budget box: a number of milliseconds, "off", or "model".

"model" (the first-run default) means each model's own budget applies, so the label
inspector runs against its 250 ms and not an arbitrary figure; once a run reports the
budget it applied, the box shows it ("model · 250 ms").
"""

from __future__ import annotations

import re

from PySide6.QtGui import QValidator
from PySide6.QtWidgets import QDoubleSpinBox, QWidget

#: Box value meaning "follow the model" (below "off", so stepping down reaches it).
FOLLOW_MODEL = -1.0
OFF = 0.0
MAX_MS = 10000.0
_NUMBER = re.compile(r"^\s*(\d+(?:\.\d*)?)\s*(?:m|ms)?\s*$", re.IGNORECASE)


class BudgetSpinBox(QDoubleSpinBox):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._model_ms: float | None = None
        self.setRange(FOLLOW_MODEL, MAX_MS)
        self.setDecimals(0)
        self.setSingleStep(5.0)
        self.setKeyboardTracking(False)
        self.setToolTip(
            "End-to-end latency budget in ms; 0 = off; below 0 = the model's own budget (Ctrl+B)"
        )
        # Wide enough for "model · 1000 ms" without resizing the toolbar.
        self.setMinimumWidth(self.fontMetrics().horizontalAdvance("model · 10000 ms") + 36)

    @property
    def follows_model(self) -> bool:
        return self.value() < OFF

    def set_model_budget(self, ms: float | None) -> None:
        """What the model asked for (shown while the box follows the model)."""
        self._model_ms = ms
        self.lineEdit().setText(self.textFromValue(self.value()))

    # Qt calls these to show and parse the value.
    def textFromValue(self, value: float) -> str:
        if value < OFF:
            if self._model_ms is None:
                return "model"
            return f"model · {self._model_ms:.0f} ms"
        if value == OFF:
            return "off"
        return f"{value:.0f} ms"

    def valueFromText(self, text: str) -> float:
        t = text.strip().lower()
        if t.startswith("model"):
            return FOLLOW_MODEL
        if t == "off":
            return OFF
        m = _NUMBER.match(t)
        return min(float(round(float(m.group(1)))), MAX_MS) if m else self.value()

    def validate(self, text: str, pos: int) -> tuple[QValidator.State, str, int]:
        t = text.strip().lower()
        if t.startswith("model") or t == "off" or _NUMBER.match(t):
            return QValidator.State.Acceptable, text, pos
        if (
            t == ""
            or "model".startswith(t)
            or "off".startswith(t)
            or re.fullmatch(r"[\d.]*\s*m?", t)
        ):
            return QValidator.State.Intermediate, text, pos
        return QValidator.State.Invalid, text, pos
