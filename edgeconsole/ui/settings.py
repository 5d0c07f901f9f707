"""What the window remembers between runs, over QSettings.

The window never creates QSettings itself: ``app.main`` passes the user's
settings and tests pass a file in a temporary directory, so a test run can
never touch a technician's configuration.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QByteArray, QSettings

from edgeconsole.core.errors import EdgeConsoleError

if TYPE_CHECKING:
    from edgeconsole.session.api import TriggerConfig

ORGANIZATION = "EdgeConsole"
APPLICATION = "EdgeConsole"
MAX_RECENT = 10
DEFAULT_BUDGET_MS = 100.0
#: Stored budget value meaning "whatever the running model asks for".
MODEL_BUDGET = "model"


def user_settings() -> QSettings:
    return QSettings(
        QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, APPLICATION
    )


def file_settings(path: str | Path) -> QSettings:
    return QSettings(str(path), QSettings.Format.IniFormat)


def _as_list(value: Any) -> list[str]:
    # INI settings hand back a str for one element and None for none.
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


class WindowSettings:
    def __init__(self, settings: QSettings) -> None:
        self.qsettings = settings

    def _str(self, key: str) -> str:
        value = self.qsettings.value(key, "")
        return str(value) if value is not None else ""

    @property
    def source(self) -> str:
        return self._str("run/source")

    @source.setter
    def source(self, spec: str) -> None:
        self.qsettings.setValue("run/source", spec)
        self.recent_sources = [spec, *[s for s in self.recent_sources if s != spec]]

    @property
    def recent_sources(self) -> list[str]:
        return _as_list(self.qsettings.value("run/recent_sources"))[:MAX_RECENT]

    @recent_sources.setter
    def recent_sources(self, specs: list[str]) -> None:
        self.qsettings.setValue("run/recent_sources", [s for s in specs if s][:MAX_RECENT])

    @property
    def model(self) -> str:
        return self._str("run/model")

    @model.setter
    def model(self, path: str) -> None:
        self.qsettings.setValue("run/model", path)
        self.recent_models = [path, *[m for m in self.recent_models if m != path]]

    @property
    def recent_models(self) -> list[str]:
        return _as_list(self.qsettings.value("run/recent_models"))[:MAX_RECENT]

    @recent_models.setter
    def recent_models(self, paths: list[str]) -> None:
        self.qsettings.setValue("run/recent_models", [p for p in paths if p][:MAX_RECENT])

    @property
    def budget_ms(self) -> float | None:
        """None means "no budget"; a missing or unreadable value gives the default."""
        raw = self.qsettings.value("run/budget_ms")
        if raw is None or raw == "":
            return DEFAULT_BUDGET_MS
        if str(raw) == "off":
            return None
        if str(raw) == MODEL_BUDGET:
            return DEFAULT_BUDGET_MS
        try:
            value = float(str(raw))
        except ValueError:
            return DEFAULT_BUDGET_MS
        return value if value > 0 else None

    @budget_ms.setter
    def budget_ms(self, value: float | None) -> None:
        self.qsettings.setValue("run/budget_ms", "off" if value is None else float(value))

    @property
    def budget_follows_model(self) -> bool:
        """True until the person sets a budget (or "off"): each model's own budget applies."""
        raw = self.qsettings.value("run/budget_ms")
        return raw is None or raw == "" or str(raw) == MODEL_BUDGET

    def follow_model_budget(self) -> None:
        self.qsettings.setValue("run/budget_ms", MODEL_BUDGET)

    @property
    def trigger(self) -> TriggerConfig:
        """The per-part trigger (kind, line position); a damaged value gives the default."""
        # Here, not at the top: the trigger's package brings numpy, and the app imports
        # these settings before its window paints.
        from edgeconsole.session.api import TriggerConfig

        raw = self.qsettings.value("run/trigger")
        if not raw:
            return TriggerConfig()
        try:
            return TriggerConfig.from_json(json.loads(str(raw)))
        except (ValueError, EdgeConsoleError):
            return TriggerConfig()

    @trigger.setter
    def trigger(self, value: TriggerConfig) -> None:
        self.qsettings.setValue("run/trigger", json.dumps(value.to_json()))

    def geometry(self) -> QByteArray | None:
        value = self.qsettings.value("window/geometry")
        return value if isinstance(value, QByteArray) else None

    def window_state(self) -> QByteArray | None:
        value = self.qsettings.value("window/state")
        return value if isinstance(value, QByteArray) else None

    def save_window(self, geometry: QByteArray, state: QByteArray) -> None:
        self.qsettings.setValue("window/geometry", geometry)
        self.qsettings.setValue("window/state", state)

    def sync(self) -> None:
        self.qsettings.sync()
