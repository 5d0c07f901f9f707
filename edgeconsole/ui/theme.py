"""A dark, high-contrast theme readable on a factory floor.

Large-ish fonts, strong colours for the three states a technician scans for
(ok green, fail red, warning amber) and a visible focus outline so the window
can be driven from the keyboard with gloves on. Overlay roles from
``core.frames.Role`` map to the same colours so the live view, the status bar
and the graphs agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication


@dataclass(frozen=True)
class Colours:
    window: str = "#101317"
    panel: str = "#181c22"
    panel_alt: str = "#20262e"
    border: str = "#3a4350"
    text: str = "#eef1f5"
    text_dim: str = "#a9b3c1"
    ok: str = "#2fd36b"
    fail: str = "#ff4747"
    warn: str = "#ffb020"
    info: str = "#4cc3ff"
    focus: str = "#ffd23f"
    selection: str = "#2a5d9f"


COLOURS = Colours()

#: Overlay role -> colour; mirrors the roles in ``edgeconsole.core.frames.Role``.
ROLE_COLOURS: dict[str, str] = {
    "ok": COLOURS.ok,
    "fail": COLOURS.fail,
    "warn": COLOURS.warn,
    "info": COLOURS.info,
    "text": COLOURS.text,
}

#: Stage colours for the latency graphs: distinct hues, none of them the
#: ok/fail/warn colours, so a stage is never mistaken for a verdict.
STAGE_COLOURS: dict[str, str] = {
    "capture": "#5b8def",
    "preprocess": "#9b6bdf",
    "infer": "#21b3a4",
    "postprocess": "#d96bb0",
    "overlay": "#c7a25a",
    "unaccounted": "#6e7781",
    "e2e": "#f2f4f7",
}

BASE_POINT_SIZE = 11


def role_colour(role: str) -> QColor:
    return QColor(ROLE_COLOURS.get(role, COLOURS.text))


def stylesheet(c: Colours = COLOURS) -> str:
    return f"""
QWidget {{ color: {c.text}; background-color: {c.window}; }}
QMainWindow::separator {{ background: {c.border}; width: 3px; height: 3px; }}
QSplitter::handle {{ background: {c.border}; }}
QSplitter::handle:vertical {{ height: 3px; }}
QSplitter::handle:horizontal {{ width: 3px; }}
QDockWidget {{ titlebar-close-icon: none; font-weight: bold; }}
QDockWidget::title {{ background: {c.panel_alt}; padding: 6px 8px; text-align: left; }}
QToolBar {{ background: {c.panel}; border-bottom: 1px solid {c.border}; spacing: 6px;
            padding: 4px; }}
QToolBar QToolButton {{ padding: 6px 10px; border: 1px solid transparent; border-radius: 4px; }}
QToolBar QToolButton:hover {{ background: {c.panel_alt}; border-color: {c.border}; }}
QToolButton#startButton {{ background: #1f6f3e; border-color: {c.ok}; font-weight: bold; }}
QToolButton#startButton:disabled {{ background: {c.panel_alt}; border-color: {c.border};
                                    color: {c.text_dim}; }}
QToolButton#stopButton {{ background: #7a2323; border-color: {c.fail}; font-weight: bold; }}
QToolButton#stopButton:disabled {{ background: {c.panel_alt}; border-color: {c.border};
                                   color: {c.text_dim}; }}
QPushButton {{ background: {c.panel_alt}; border: 1px solid {c.border}; border-radius: 4px;
               padding: 6px 14px; }}
QPushButton:hover {{ border-color: {c.info}; }}
QPushButton:pressed {{ background: {c.selection}; }}
QComboBox, QLineEdit, QDoubleSpinBox, QSpinBox {{
    background: {c.panel_alt}; border: 1px solid {c.border}; border-radius: 4px;
    padding: 4px 8px; min-height: 24px; selection-background-color: {c.selection}; }}
QComboBox QAbstractItemView {{ background: {c.panel}; selection-background-color: {c.selection}; }}
QTreeView, QListView, QTableView {{ background: {c.panel}; alternate-background-color:
    {c.panel_alt}; border: 1px solid {c.border}; gridline-color: {c.border};
    selection-background-color: {c.selection}; }}
QHeaderView::section {{ background: {c.panel_alt}; color: {c.text_dim}; padding: 4px 6px;
                        border: none; border-right: 1px solid {c.border}; font-weight: bold; }}
QStatusBar {{ background: {c.panel}; border-top: 1px solid {c.border}; }}
QStatusBar QLabel {{ padding: 2px 10px; }}
QStatusBar::item {{ border: none; }}
QMenuBar {{ background: {c.panel}; }}
QMenuBar::item:selected, QMenu::item:selected {{ background: {c.selection}; }}
QMenu {{ background: {c.panel}; border: 1px solid {c.border}; }}
QMenu::item {{ padding: 6px 24px; }}
QToolTip {{ background: {c.panel_alt}; color: {c.text}; border: 1px solid {c.info};
            padding: 4px; }}
QProgressBar {{ background: {c.panel_alt}; border: 1px solid {c.border}; border-radius: 4px;
                max-height: 14px; }}
QProgressBar::chunk {{ background: {c.info}; }}
QTabBar::tab {{ background: {c.panel}; padding: 6px 14px; border: 1px solid {c.border}; }}
QTabBar::tab:selected {{ background: {c.panel_alt}; border-bottom: 2px solid {c.info}; }}
*:focus {{ outline: none; }}
QPushButton:focus, QToolButton:focus, QComboBox:focus, QLineEdit:focus,
QDoubleSpinBox:focus, QTreeView:focus, QListView:focus, QTableView:focus {{
    border: 2px solid {c.focus}; }}
QFrame#messageBar[level="error"] {{ background: #5a1717; border: 2px solid {c.fail}; }}
QFrame#messageBar[level="warning"] {{ background: #4d3a0a; border: 2px solid {c.warn}; }}
QFrame#messageBar[level="info"] {{ background: #123049; border: 2px solid {c.info}; }}
QFrame#messageBar QLabel {{ background: transparent; font-weight: bold; }}
QFrame#busyBar {{ background: #123049; border: 2px solid {c.info}; }}
QFrame#busyBar QLabel {{ background: transparent; font-weight: bold; }}
QLabel#stateLabel {{ font-weight: bold; border-radius: 4px; padding: 2px 10px; }}
QLabel#stateLabel[state="running"] {{ background: #1f6f3e; }}
QLabel#stateLabel[state="opening"], QLabel#stateLabel[state="reconnecting"],
QLabel#stateLabel[state="stopping"] {{ background: #6b4d08; }}
QLabel#stateLabel[state="error"] {{ background: #7a2323; }}
QLabel#stateLabel[state="idle"], QLabel#stateLabel[state="stopped"] {{ background: {c.panel_alt}; }}
"""


def palette(c: Colours = COLOURS) -> QPalette:
    p = QPalette()
    roles = {
        QPalette.ColorRole.Window: c.window,
        QPalette.ColorRole.WindowText: c.text,
        QPalette.ColorRole.Base: c.panel,
        QPalette.ColorRole.AlternateBase: c.panel_alt,
        QPalette.ColorRole.ToolTipBase: c.panel_alt,
        QPalette.ColorRole.ToolTipText: c.text,
        QPalette.ColorRole.Text: c.text,
        QPalette.ColorRole.Button: c.panel_alt,
        QPalette.ColorRole.ButtonText: c.text,
        QPalette.ColorRole.BrightText: c.fail,
        QPalette.ColorRole.Highlight: c.selection,
        QPalette.ColorRole.HighlightedText: c.text,
        QPalette.ColorRole.Link: c.info,
        QPalette.ColorRole.PlaceholderText: c.text_dim,
    }
    for role, colour in roles.items():
        p.setColor(role, QColor(colour))
    for role in (
        QPalette.ColorRole.Text,
        QPalette.ColorRole.ButtonText,
        QPalette.ColorRole.WindowText,
    ):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor(c.text_dim))
    return p


def apply_theme(app: QApplication) -> None:
    """Fusion style (same look on every platform), dark palette, larger font."""
    app.setStyle("Fusion")
    app.setPalette(palette())
    font = QFont(app.font())
    font.setPointSize(BASE_POINT_SIZE)
    app.setFont(font)
    app.setStyleSheet(stylesheet())
