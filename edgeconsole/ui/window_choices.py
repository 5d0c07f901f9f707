"""The main window's choices: source and model (combos, menus, file pickers) and the
latency budget; a new choice while running restarts the pipeline with it.

A base of :class:`edgeconsole.ui.main_window.MainWindow` (split off by job so each
module stays small); the window builds the widgets named below and keeps the state.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QFileDialog, QInputDialog, QMainWindow

import edgeconsole
from edgeconsole.session.demo_names import default_demo_model
from edgeconsole.ui.budget_spin import FOLLOW_MODEL, BudgetSpinBox
from edgeconsole.ui.status_panel import model_label, source_label
from edgeconsole.ui.targets_panel import SYNTHETIC_CONVEYOR

if TYPE_CHECKING:
    from edgeconsole.ui.latency_panel import LatencyPanel
    from edgeconsole.ui.session_port import SessionPort
    from edgeconsole.ui.settings import WindowSettings
    from edgeconsole.ui.status_panel import StatusPanel


def sample_models_dir() -> Path:
    return Path(edgeconsole.__file__).resolve().parent.parent / "sample_models"


def find_sample_models() -> list[Path]:
    root = sample_models_dir()
    if not root.is_dir():
        return []
    return sorted(p.parent for p in root.glob("*/model.json"))


def default_model() -> str:
    preferred = default_demo_model()  # the fast inspector; the others stay selectable
    if (preferred / "model.json").is_file():
        return str(preferred)
    found = find_sample_models()
    return str(found[0]) if found else ""


class WindowChoices(QMainWindow):
    """Source, model and budget: what the next start runs with."""

    session: SessionPort
    settings: WindowSettings
    latency: LatencyPanel
    status_panel: StatusPanel
    source_combo: QComboBox
    model_combo: QComboBox
    budget_spin: BudgetSpinBox
    _source: str
    _model: str
    _budget: float | None
    _budget_auto: bool
    _restart_if_running: Callable[[], None]
    _call: Callable[..., bool]

    def _refresh_source_combo(self) -> None:
        specs = [self._source, *[s for s in self.settings.recent_sources if s != self._source]]
        if SYNTHETIC_CONVEYOR not in specs:
            specs.append(SYNTHETIC_CONVEYOR)
        self.source_combo.blockSignals(True)
        self.source_combo.clear()
        for spec in specs:
            self.source_combo.addItem(source_label(spec), spec)
            self.source_combo.setItemData(
                self.source_combo.count() - 1, spec, Qt.ItemDataRole.ToolTipRole
            )
        self.source_combo.setCurrentIndex(0)
        self.source_combo.blockSignals(False)

    def _refresh_model_combo(self) -> None:
        paths = [self._model] if self._model else []
        paths += [m for m in self.settings.recent_models if m not in paths]
        paths += [str(p) for p in find_sample_models() if str(p) not in paths]
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        for path in paths:
            self.model_combo.addItem(model_label(path), path)
            self.model_combo.setItemData(
                self.model_combo.count() - 1, path, Qt.ItemDataRole.ToolTipRole
            )
        if not paths:
            self.model_combo.addItem("(choose a model)", "")
        self.model_combo.setCurrentIndex(0)
        self.model_combo.blockSignals(False)

    def _on_source_combo(self, index: int) -> None:
        spec = self.source_combo.itemData(index)
        if spec:
            self.choose_source(str(spec))

    def _on_model_combo(self, index: int) -> None:
        path = self.model_combo.itemData(index)
        if path:
            self.choose_model(str(path))

    def choose_source(self, spec: str) -> None:
        spec = spec.strip()
        if not spec:
            return
        self._source = spec
        self.settings.source = spec
        self._refresh_source_combo()
        self._restart_if_running()

    def choose_model(self, path: str) -> None:
        path = path.strip()
        if not path:
            return
        self._model = path
        self.settings.model = path
        self._refresh_model_combo()
        self._restart_if_running()

    def _dialog_dir(self) -> str:
        current = Path(self._source)
        return str(current.parent) if current.parent.is_dir() else str(Path.home())

    def pick_video_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Open a video file",
            self._dialog_dir(),
            "Video files (*.mp4 *.avi *.mkv *.mov *.m4v *.webm *.mjpg);;All files (*)",
        )
        if path:
            self.choose_source(path)

    def pick_image_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open an image folder", self._dialog_dir())
        if path:
            self.choose_source(path)

    def pick_url(self) -> None:
        current = self._source if "://" in self._source else "rtsp://"
        url, ok = QInputDialog.getText(self, "Stream URL", "RTSP or HTTP stream URL:", text=current)
        if ok and url.strip():
            self.choose_source(url.strip())

    def pick_model_file(self) -> None:
        start = self._model if self._model else str(sample_models_dir())
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Choose a model description",
            start,
            "Model description (model.json *.json);;All files (*)",
        )
        if path:
            self.choose_model(path)

    def focus_budget(self) -> None:
        self.budget_spin.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.budget_spin.selectAll()

    def _on_budget_changed(self, value: float) -> None:
        if value < 0:
            # Back to the model's own budget: it applies from the next start.
            self._budget_auto = True
            self.settings.follow_model_budget()
            return
        budget = value if value > 0 else None
        self._budget_auto = False
        self._budget = budget
        self.settings.budget_ms = budget
        self.latency.set_budget(budget)
        self.status_panel.set_budget(budget)
        self._call("set the latency budget", self.session.set_budget, budget)

    def set_budget(self, ms: float | None) -> None:
        self.budget_spin.setValue(ms or 0.0)

    def follow_model_budget(self) -> None:
        self.budget_spin.setValue(FOLLOW_MODEL)

    @property
    def budget_follows_model(self) -> bool:
        return self._budget_auto
