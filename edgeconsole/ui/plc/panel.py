"""The PLC view: the reject-gate handshake as a technician checks it.

Thin over ``Session.start_plc`` / ``stop_plc`` and ``poll().plc``
(session/plc_monitor.py): the form picks the PLC, its map and the role (watch
read-only, answer with this laptop's line, or the armed test mode, which asks
first because it writes to the PLC); the view shows the counters, trigger ->
result and result -> ack against the budget, a logic-analyser timeline of the
handshake signals, and one row per part with the PLC's verdict next to the
camera's.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QColor, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from edgeconsole.ui.plc.timeline import LANES, HandshakeTimeline
from edgeconsole.ui.theme import COLOURS

if TYPE_CHECKING:
    from edgeconsole.ui.session_port import SessionPort

ROLES = (
    ("watch", "Watch (read-only)"),
    ("gate", "Answer with this laptop's line"),
    ("test", "Test mode: answer with test verdicts (writes to the PLC)"),
)
PATTERNS = (("alternate", "OK / NG alternating"), ("ok", "always OK"), ("ng", "always NG"))
COLUMNS = (
    "Part",
    "Trigger → result ms",
    "Result → ack ms",
    "PLC",
    "Camera",
    "Reason",
    "Outcome",
)
COUNTERS = (
    ("triggers", "Triggers", None),
    ("answered", "Answered", None),
    ("missed", "Missed", COLOURS.fail),
    ("late", "Late", COLOURS.warn),
    ("missing_acks", "Missing acks", COLOURS.fail),
    ("mismatches", "Mismatches", COLOURS.fail),
    ("errors", "Errors", COLOURS.fail),
)
MAX_ROWS = 500
#: The link's state in words (the monitor's own words for anything else).
STATES = {
    "idle": "ready: waiting for the next trigger",
    "watching": "watching",
    "connecting": "connecting…",
    "down": "PLC link down: retrying",
}
SETTINGS = "plc/"


class PlcPanel(QWidget):
    def __init__(
        self,
        session: SessionPort,
        settings: QSettings | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("plcPanel")
        self.session = session
        self.settings = settings
        self.running_role: str | None = None

        self.url = QLineEdit(self._setting("url", "modbus://127.0.0.1:5020"))
        self.url.setPlaceholderText("modbus://HOST:PORT or opc.tcp://HOST:PORT/PATH")
        self.map_path = QLineEdit(self._setting("map", _sample_map()))
        self.browse = QPushButton("Map…")
        self.role = QComboBox()
        for key, text in ROLES:
            self.role.addItem(text, key)
        self.role.setCurrentIndex(max(0, self.role.findData(self._setting("role", "watch"))))
        self.pattern = QComboBox()
        for key, text in PATTERNS:
            self.pattern.addItem(text, key)
        self.start_button = QPushButton("Start")
        self.start_button.setObjectName("plcStart")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.form_box = QWidget()
        form = QGridLayout(self.form_box)
        form.setContentsMargins(0, 0, 0, 0)
        form.addWidget(QLabel("PLC"), 0, 0)
        form.addWidget(self.url, 0, 1)
        form.addWidget(QLabel("Map"), 0, 2)
        form.addWidget(self.map_path, 0, 3)
        form.addWidget(self.browse, 0, 4)
        form.addWidget(QLabel("Role"), 1, 0)
        form.addWidget(self.role, 1, 1)
        form.addWidget(self.pattern, 1, 3)
        form.addWidget(self.start_button, 1, 4)
        form.setColumnStretch(1, 2)
        form.setColumnStretch(3, 3)

        self.state = QLabel("Not connected.")
        self.state.setObjectName("plcState")
        self.state.setWordWrap(True)
        state_row = QHBoxLayout()
        state_row.addWidget(self.state, 1)
        state_row.addWidget(self.stop_button)
        self.counter_labels: dict[str, QLabel] = {}
        strip = QHBoxLayout()
        for key, title, _ in COUNTERS:
            box = QFrame()
            box.setFrameShape(QFrame.Shape.StyledPanel)
            lay = QVBoxLayout(box)
            lay.setContentsMargins(8, 2, 8, 2)
            lay.setSpacing(0)
            value = QLabel("0")
            value.setObjectName(f"plcCounter_{key}")
            value.setAlignment(Qt.AlignmentFlag.AlignCenter)
            f = value.font()
            f.setPointSize(f.pointSize() + 6)
            f.setBold(True)
            value.setFont(f)
            caption = QLabel(title)
            caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
            caption.setStyleSheet(f"color: {COLOURS.text_dim}")
            lay.addWidget(value)
            lay.addWidget(caption)
            strip.addWidget(box)
            self.counter_labels[key] = value
        self.latency = QLabel("trigger → result: no parts yet")
        self.latency.setObjectName("plcLatency")
        self.latency.setWordWrap(True)

        self.timeline = HandshakeTimeline()
        self.pause = QPushButton("Pause")
        self.pause.setCheckable(True)
        self.pause.setToolTip("Freeze the timeline (Space)")
        self.zoom = QComboBox()
        for secs in (1.0, 3.0, 5.0, 10.0, 30.0):
            self.zoom.addItem(f"{secs:g} s", secs)
        self.zoom.setCurrentIndex(2)
        tl_bar = QHBoxLayout()
        tl_title = QLabel("Handshake signals")
        tl_title.setStyleSheet("font-weight: bold")
        tl_bar.addWidget(tl_title)
        tl_bar.addStretch(1)
        tl_bar.addWidget(QLabel("Window"))
        tl_bar.addWidget(self.zoom)
        tl_bar.addWidget(self.pause)
        tl_box = QWidget()
        tl_lay = QVBoxLayout(tl_box)
        tl_lay.setContentsMargins(0, 0, 0, 0)
        tl_lay.addLayout(tl_bar)
        tl_lay.addWidget(self.timeline, 1)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("plcParts")
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        header = self.table.horizontalHeader()
        for i in range(len(COLUMNS) - 1):
            header.setSectionResizeMode(i, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)

        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(tl_box)
        split.addWidget(self.table)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        split.setSizes([230, 400])

        layout = QVBoxLayout(self)
        layout.addWidget(self.form_box)
        layout.addLayout(state_row)
        layout.addLayout(strip)
        layout.addWidget(self.latency)
        layout.addWidget(split, 1)

        self.browse.clicked.connect(self._browse)
        self.start_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.stop)
        self.role.currentIndexChanged.connect(self._role_changed)
        self.pause.toggled.connect(self._pause)
        self.zoom.currentIndexChanged.connect(self._zoom)
        QShortcut(QKeySequence("Space"), self, self.pause.toggle)
        self._set_running(False)
        monitor = session.plc
        if monitor is not None:
            self._adopt(monitor)

    # ---- commands ------------------------------------------------------------------
    def start(self) -> None:
        role = str(self.role.currentData())
        url, map_path = self.url.text().strip(), self.map_path.text().strip()
        if role == "test":
            answer = QMessageBox.warning(
                self,
                "Arm the PLC test mode?",
                f"Test mode WRITES to the PLC at {url}: this console answers every trigger "
                f"with {self.pattern.currentText()}, and the reject gate acts on it.\n\n"
                "Only arm it on a line that is not producing.",
                QMessageBox.StandardButton.Cancel | QMessageBox.StandardButton.Yes,
                QMessageBox.StandardButton.Cancel,
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        for key, value in (("url", url), ("map", map_path), ("role", role)):
            if self.settings is not None:
                self.settings.setValue(SETTINGS + key, value)
        self.clear()
        self.state.setText(f"Connecting to {url}…")
        try:
            self.session.start_plc(
                url,
                map_path,
                role,
                test_pattern=str(self.pattern.currentData()),
                wait=False,
            )
        except Exception as exc:  # a bad map file is a ConfigError, shown here
            self.state.setText(f"<span style='color:{COLOURS.fail}'>{_esc(str(exc))}</span>")
            return
        self.running_role = role
        self._set_running(True)

    def stop(self) -> None:
        self.session.stop_plc()
        self.running_role = None
        self._set_running(False)
        self.state.setText("Stopped.")

    def clear(self) -> None:
        self.table.setRowCount(0)
        self.timeline.clear()

    # ---- what poll() brings --------------------------------------------------------
    def apply(self, snap: Any) -> None:
        """One ``PlcSnapshot`` (new edges and parts, running counters); None when no
        monitor runs: a connect that failed on its thread is said here."""
        if snap is None:
            if self.running_role is not None and getattr(self.session, "plc", None) is None:
                self.running_role = None
                self._set_running(False)
                why = getattr(self.session, "plc_error", "") or "the PLC monitor stopped"
                self.state.setText(
                    f"<span style='color:{COLOURS.fail}'>Not connected: {_esc(why)}</span>"
                )
            return
        if self.running_role is None or self.url.text() != snap.url:
            # Started elsewhere (the demo, the command line's session): show what runs.
            self.url.setText(snap.url)
            if snap.map_path:
                self.map_path.setText(snap.map_path)
            self.role.setCurrentIndex(max(0, self.role.findData(snap.role)))
            self.running_role = snap.role
            self._set_running(True)
        if snap.signals and [n for n, _, _ in self.timeline.lanes] != [
            n for n in (lane[0] for lane in LANES) if n in snap.signals
        ]:
            self.timeline.set_signals(set(snap.signals))
        self.timeline.add_edges(snap.edges, snap.now_ns)
        self._add_rows(snap.rows)
        self._show_counters(snap)

    def _adopt(self, monitor: Any) -> None:
        """A monitor already running when the view opens (the demo's): show its history."""
        self.url.setText(monitor.url)
        self.map_path.setText(monitor.map_path)
        self.role.setCurrentIndex(max(0, self.role.findData(monitor.role)))
        self.running_role = monitor.role
        self._set_running(True)
        self.timeline.set_signals(set(monitor.map.signals))
        rows, edges = monitor.history()
        if edges:
            self.timeline.add_edges(edges, edges[-1][0])
        self._add_rows(rows)

    def _add_rows(self, rows: Iterable[Any]) -> None:
        rows = list(rows)
        if not rows:
            return
        self.table.setUpdatesEnabled(False)
        try:
            for r in rows[-MAX_ROWS:]:
                self.table.insertRow(0)
                for col, (text, colour) in enumerate(_cells(r)):
                    item = QTableWidgetItem(text)
                    if colour:
                        item.setForeground(QColor(colour))
                    if col in (1, 2):
                        item.setTextAlignment(
                            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                        )
                    self.table.setItem(0, col, item)
            while self.table.rowCount() > MAX_ROWS:
                self.table.removeRow(self.table.rowCount() - 1)
        finally:
            self.table.setUpdatesEnabled(True)

    def _show_counters(self, snap: Any) -> None:
        c = snap.counters
        for key, _title, alarm in COUNTERS:
            n = int(c.get(key, 0))
            label = self.counter_labels[key]
            label.setText(str(n))
            label.setStyleSheet(f"color: {alarm}" if alarm and n else "")
        t2r, r2a = snap.trigger_to_result_ms, snap.result_to_ack_ms
        over = t2r.get("p99") is not None and t2r["p99"] > snap.budget_ms
        colour = COLOURS.fail if over else COLOURS.ok
        if t2r.get("p50") is None:
            self.latency.setText(f"trigger → result: no parts yet (budget {snap.budget_ms:g} ms)")
        else:
            self.latency.setText(
                f"trigger → result p50 {t2r['p50']:.1f} · "
                f"<b style='color:{colour}'>p99 {t2r['p99']:.1f}</b> · max {t2r['max']:.1f} ms "
                f"(budget {snap.budget_ms:g} ms)"
                + (
                    f" &nbsp;&nbsp; result → ack p50 {r2a['p50']:.1f} · p99 {r2a['p99']:.1f} ms"
                    if r2a.get("p50") is not None
                    else ""
                )
            )
        role = dict(ROLES).get(snap.role, snap.role)
        res = f", edges to ±{snap.resolution_ms:g} ms" if snap.resolution_ms else ""
        text = f"{snap.url} · {snap.map} · {role}{res} · {STATES.get(snap.state, snap.state)}"
        if snap.role == "test":
            text = f"<b style='color:{COLOURS.warn}'>TEST MODE ARMED</b> · " + _esc(text)
        else:
            text = _esc(text)
        if snap.error:
            text += f"<br><span style='color:{COLOURS.fail}'>{_esc(snap.error)}</span>"
        self.state.setText(text)

    # ---- small things --------------------------------------------------------------
    def _set_running(self, running: bool) -> None:
        """While running the form gives its room to the view; Stop brings it back."""
        self.form_box.setVisible(not running)
        self.start_button.setEnabled(not running)
        self.stop_button.setVisible(running)
        self.stop_button.setEnabled(running)
        if not running:
            self._role_changed()

    def _role_changed(self) -> None:
        self.pattern.setVisible(self.role.currentData() == "test")

    def _pause(self, on: bool) -> None:
        self.timeline.paused = on
        self.pause.setText("Resume" if on else "Pause")
        self.timeline.update()

    def _zoom(self) -> None:
        self.timeline.window_s = float(self.zoom.currentData())
        self.timeline.update()

    def _browse(self) -> None:
        start = self.map_path.text() or str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "PLC map", start, "PLC maps (*.toml)")
        if path:
            self.map_path.setText(path)

    def _setting(self, key: str, default: str) -> str:
        if self.settings is None:
            return default
        return str(self.settings.value(SETTINGS + key, default))


def _sample_map() -> str:
    from edgeconsole.session.api import sample_map_path

    return str(sample_map_path())


def _esc(text: str) -> str:
    from html import escape

    return escape(text, quote=False)


def _ms(v: float | None) -> str:
    return "–" if v is None else f"{v:.2f}"


def _cells(r: Any) -> list[tuple[str, str | None]]:
    verdict_colour = {"OK": COLOURS.ok, "NG": COLOURS.fail, "ERROR": COLOURS.warn}
    outcome = r.outcome + (f": {r.mismatch}" if r.mismatch else "")
    out_colour = None
    if r.mismatch or r.outcome in ("missed", "no_ack", "not_handed_over"):
        out_colour = COLOURS.fail
    elif r.late:
        out_colour = COLOURS.warn
        outcome += " (late)"
    return [
        (str(r.counter if r.counter is not None else f"#{r.seq}"), None),
        (_ms(r.trigger_to_result_ms), COLOURS.warn if r.late else None),
        (_ms(r.result_to_ack_ms), None),
        (r.plc_verdict or "–", verdict_colour.get(r.plc_verdict or "")),
        (r.camera_verdict or "–", verdict_colour.get(r.camera_verdict or "")),
        (r.label or "", None),
        (outcome, out_colour),
    ]
