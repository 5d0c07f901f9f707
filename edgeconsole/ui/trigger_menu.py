"""Choosing what decides a part: the trigger's kind and settings (DESIGN section 10).

A toolbar button (and the Run menu, Ctrl+T) offers the three triggers a QC line
has: the virtual line in the image (its orientation and position; it can also be
dragged in the live view), an external edge (a photo-eye on a serial device, a
PLC, a gateway's forwarded eye: the line then marks where the eye looks), and a
periodic timer. The choice goes to the session at once (a running line follows
from its next frame) and is remembered in the window's settings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QInputDialog, QMenu, QToolButton, QWidget

from edgeconsole.core.clock import wall_iso
from edgeconsole.session.api import (
    MAX_PERIOD_MS,
    MIN_PERIOD_MS,
    TriggerConfig,
    TriggerLine,
)
from edgeconsole.session.update import Event

SHORTCUT = "Ctrl+T"
DEFAULT_PERIOD_MS = 500.0
KIND_TEXT = {
    "line": "Virtual line: a part's centre crosses it",
    "external": "External edge: photo-eye, PLC or gateway",
    "periodic": "Periodic: every part in view, each tick",
}


def button_text(cfg: TriggerConfig) -> str:
    """Short, for the toolbar: ``Trigger: line x=50%``."""
    line = cfg.line
    name = "x" if line.axis == 0 else "y"
    where = f"{line.pixels:g}px" if line.pixels is not None else f"{line.position * 100:.0f}%"
    if cfg.kind == "line":
        return f"Trigger: line {name}={where}"
    if cfg.kind == "external":
        return f"Trigger: external at {name}={where}"
    if cfg.kind == "periodic":
        return f"Trigger: every {cfg.period_ms:g} ms"
    return f"Trigger: {cfg.kind}"


class TriggerControl(QObject):
    """The trigger's button and menu; ``apply`` is the one way a new trigger goes out."""

    def __init__(
        self,
        parent: QWidget,
        settings: Any,
        send: Callable[[TriggerConfig], bool],
        report: Callable[[Event], None],
    ) -> None:
        """``settings``: the window's (``.trigger`` read and written); ``send``: to the
        session (False when it refused); ``report``: into the event log."""
        super().__init__(parent)
        self._parent = parent
        self.settings = settings
        self._send = send
        self._report = report
        current = settings.trigger
        self._period_ms = current.period_ms or DEFAULT_PERIOD_MS
        self.menu = QMenu("&Trigger", parent)
        self.menu.setObjectName("triggerMenu")
        self.menu.setToolTipsVisible(True)
        self.kind_actions: dict[str, QAction] = {}
        kinds = QActionGroup(self)
        for kind, text in KIND_TEXT.items():
            act = self.menu.addAction(text)
            act.setCheckable(True)
            act.setData(kind)
            kinds.addAction(act)
            act.triggered.connect(lambda _=False, k=kind: self.choose_kind(k))
            self.kind_actions[kind] = act
        self.menu.addSeparator()
        self.orientation_actions: dict[str, QAction] = {}
        sides = QActionGroup(self)
        for orientation, text in (
            ("vertical", "Vertical line (the belt runs left/right)"),
            ("horizontal", "Horizontal line (the belt runs up/down)"),
        ):
            act = self.menu.addAction(text)
            act.setCheckable(True)
            sides.addAction(act)
            act.triggered.connect(lambda _=False, o=orientation: self.choose_orientation(o))
            self.orientation_actions[orientation] = act
        self.position_action = self.menu.addAction("Line position…", self.ask_position)
        self.position_action.setToolTip("Where the line is, in % of the frame (or drag it)")
        self.centre_action = self.menu.addAction("Back to the centre line", self.centre)
        self.menu.addSeparator()
        self.period_action = self.menu.addAction("Period…", self.ask_period)
        self.button = QToolButton(parent)
        self.button.setObjectName("triggerButton")
        self.button.setMenu(self.menu)
        self.button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.button.setAccessibleName("Trigger")
        # A window action: the shortcut works wherever focus is (and with the toolbar hidden).
        self.open_action = QAction("Trigger…", parent)
        self.open_action.setShortcut(QKeySequence(SHORTCUT))
        self.open_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.open_action.setToolTip(f"Choose what decides a part ({SHORTCUT})")
        self.open_action.triggered.connect(self.popup)
        parent.addAction(self.open_action)
        self.refresh()

    @property
    def current(self) -> TriggerConfig:
        trigger: TriggerConfig = self.settings.trigger
        return trigger

    def popup(self) -> None:
        self.menu.popup(self.button.mapToGlobal(self.button.rect().bottomLeft()))

    def refresh(self) -> None:
        """Show the remembered trigger (after a drag of the line, too)."""
        cfg = self.current
        text = button_text(cfg)
        self.button.setText(text)
        self.button.setToolTip(f"{text} ({cfg.describe()}). {SHORTCUT} to change")
        for kind, act in self.kind_actions.items():
            act.setChecked(kind == cfg.kind)
        for orientation, act in self.orientation_actions.items():
            act.setChecked(orientation == cfg.line.orientation)
        has_line = cfg.kind in ("line", "external")
        for act in (*self.orientation_actions.values(), self.position_action, self.centre_action):
            act.setEnabled(has_line)
        self.period_action.setEnabled(cfg.kind == "periodic")
        self.period_action.setText(
            f"Period ({cfg.period_ms:g} ms)…" if cfg.period_ms is not None else "Period…"
        )

    # ------------------------------------------------------------------ choices
    def apply(self, cfg: TriggerConfig) -> None:
        """Remember ``cfg``, send it to the session, say so."""
        self.settings.trigger = cfg
        if cfg.period_ms is not None:
            self._period_ms = cfg.period_ms
        ok = self._send(cfg)
        self.refresh()
        if ok:
            self._report(
                Event(
                    level="info",
                    kind="ui",
                    wall_time=wall_iso(),
                    text=f"trigger: {cfg.describe()} (kept for the next run)",
                )
            )

    def choose_kind(self, kind: str) -> None:
        cur = self.current
        if kind == "periodic":
            cfg = TriggerConfig("periodic", cur.line, self._period_ms)
        else:
            cfg = TriggerConfig(kind, cur.line)  # type: ignore[arg-type]  # from KIND_TEXT
        self.apply(cfg)

    def choose_orientation(self, orientation: Literal["vertical", "horizontal"]) -> None:
        cur = self.current
        if orientation != cur.line.orientation:
            self.apply(cur.with_line(TriggerLine(orientation, cur.line.position)))

    def centre(self) -> None:
        cur = self.current
        self.apply(cur.with_line(TriggerLine(cur.line.orientation, 0.5)))

    def ask_position(self) -> None:
        cur = self.current
        name = "x" if cur.line.axis == 0 else "y"
        value, ok = QInputDialog.getDouble(
            self._parent,
            "Trigger line position",
            f"Line at {name} = (% of the frame's {'width' if name == 'x' else 'height'}):",
            cur.line.position * 100.0,
            1.0,
            99.0,
            1,
        )
        if ok:
            self.set_position(value / 100.0)

    def set_position(self, fraction: float) -> None:
        cur = self.current
        self.apply(cur.with_line(TriggerLine(cur.line.orientation, round(fraction, 4))))

    def ask_period(self) -> None:
        value, ok = QInputDialog.getDouble(
            self._parent,
            "Periodic trigger",
            "Decide every part in view every (ms):",
            self._period_ms,
            MIN_PERIOD_MS,
            MAX_PERIOD_MS,
            0,
        )
        if ok:
            self.set_period(value)

    def set_period(self, ms: float) -> None:
        self._period_ms = ms
        self.apply(TriggerConfig("periodic", self.current.line, ms))
