"""Replay a recording (.mcap) with the live view's overlays, latency graphs and telemetry.

    replay = ReplayView()                 # a tab next to the live view, or a window
    replay.open(path)                     # File ▸ Open recording… (Ctrl+Shift+O)

A ``QTimer`` calls ``ReplaySource.poll()``; each batch feeds the same widgets the
live view uses (``LiveView``, ``LatencyPanel``) plus a telemetry plot when the
recording has telemetry. Keys: Space play/pause, Left/Right 5 s back/forward,
Home to the start, [ and ] slower/faster. A recording cut short (crash, pulled
power) opens with a warning that says how much was kept; a file that cannot be
read at all shows why in the message bar. Seeking restarts the latency graphs
and telemetry at the new point (a jump would otherwise join unrelated samples).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from edgeconsole.core.errors import EdgeConsoleError
from edgeconsole.core.jsonsafe import JSONRefused, loads_bounded
from edgeconsole.session.api import LatencyStats
from edgeconsole.session.evidence import RecordingInfo, RecordingReader, ReplayBatch, ReplaySource
from edgeconsole.session.update import Event, LiveFrame
from edgeconsole.ui.journal.common import fmt_clock, fmt_iso, fmt_local
from edgeconsole.ui.journal.telemetry_plot import TelemetryPlot
from edgeconsole.ui.latency_panel import LatencyPanel
from edgeconsole.ui.live_view import LiveView
from edgeconsole.ui.messages import EventLog, MessageBar

SPEEDS: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0)
SLIDER_STEPS = 1000
STATS_EVERY_S = 0.25  # percentiles/histogram: a few times a second is plenty
PLACEHOLDER = (
    "Open a recording (.mcap) to replay it: the Open button, Ctrl+Shift+O, or drop a file here."
)


def budget_from(info: RecordingInfo) -> float | None:
    """The latency budget the recorded model declared, when the recording carries it."""
    meta = info.metadata.get("edgeconsole.recording", {})
    for key in ("latency_budget_ms", "budget_ms"):
        try:
            if key in meta:
                return float(meta[key])
        except ValueError:
            pass
    raw = info.attachments.get("manifest.json")
    if raw:
        try:
            manifest = loads_bounded(raw, max_bytes=1 << 20, what="manifest.json")
        except JSONRefused:
            return None
        for where in (manifest, manifest.get("model") if isinstance(manifest, dict) else None):
            if isinstance(where, dict) and isinstance(where.get("latency_budget_ms"), (int, float)):
                return float(where["latency_budget_ms"])
    return None


class ReplayView(QWidget):
    def __init__(
        self, parent: QWidget | None = None, *, tick_ms: int = 33, workdir: Path | None = None
    ) -> None:
        super().__init__(parent)
        self.setAccessibleName("Replay view")
        self.setAcceptDrops(True)
        self.workdir = workdir
        self.reader: RecordingReader | None = None
        self.source: ReplaySource | None = None
        self.stats = LatencyStats(window=300)
        self.frames_shown = 0
        self.last_batch: ReplayBatch | None = None
        self._last_stats = 0.0

        self.open_button = QPushButton("Open recording…")
        self.open_button.setToolTip("Open an .mcap recording (Ctrl+Shift+O)")
        self.open_button.clicked.connect(self._open_clicked)
        self.play_button = QPushButton("▶ Play")
        self.play_button.setToolTip("Play / pause (Space)")
        self.play_button.setMinimumWidth(100)
        self.play_button.clicked.connect(self.toggle)
        self.position_label = QLabel("0:00.0")
        self.position_label.setMinimumWidth(64)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, SLIDER_STEPS)
        self.slider.setPageStep(SLIDER_STEPS // 20)
        self.slider.setToolTip("Seek (Left/Right: 5 s, Home: start)")
        self.slider.valueChanged.connect(self._slider_changed)
        self.duration_label = QLabel("0:00.0")
        self.speed_combo = QComboBox()
        for s in SPEEDS:
            self.speed_combo.addItem(f"{s:g}×", s)
        self.speed_combo.setCurrentIndex(SPEEDS.index(1.0))
        self.speed_combo.setToolTip("Replay speed ([ slower, ] faster)")
        self.speed_combo.currentIndexChanged.connect(self._speed_changed)
        controls = QHBoxLayout()
        controls.addWidget(self.open_button)
        controls.addWidget(self.play_button)
        controls.addWidget(self.position_label)
        controls.addWidget(self.slider, 1)
        controls.addWidget(self.duration_label)
        controls.addWidget(QLabel("Speed"))
        controls.addWidget(self.speed_combo)

        self.message = MessageBar()
        self.info_label = QLabel("No recording open.")
        self.info_label.setObjectName("replayInfo")
        self.info_label.setWordWrap(True)
        self.info_label.setTextFormat(Qt.TextFormat.RichText)

        self.live_view = LiveView()
        self.live_view.clear(PLACEHOLDER)
        self.latency_panel = LatencyPanel()
        self.telemetry_plot = TelemetryPlot()
        self.telemetry_plot.setMinimumHeight(140)
        self.event_log = EventLog(max_items=500)
        self.event_log.setMinimumWidth(320)
        # Same arrangement as the live window: picture on top, latency panel
        # side by side underneath; telemetry and events beside the picture.
        self.latency_panel.set_orientation(Qt.Orientation.Horizontal)
        self.side = QSplitter(Qt.Orientation.Vertical)
        self.side.addWidget(self.telemetry_plot)
        self.side.addWidget(self.event_log)
        self.side.setChildrenCollapsible(False)
        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(self.live_view)
        top.addWidget(self.side)
        top.setStretchFactor(0, 3)
        top.setStretchFactor(1, 1)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(top)
        self.splitter.addWidget(self.latency_panel)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setChildrenCollapsible(False)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.message)
        layout.addWidget(self.info_label)
        layout.addLayout(controls)
        layout.addWidget(self.splitter, 1)

        ctx = Qt.ShortcutContext.WidgetWithChildrenShortcut
        for key, slot in (
            (Qt.Key.Key_Space, self.toggle),
            (Qt.Key.Key_Left, lambda: self.step(-5.0)),
            (Qt.Key.Key_Right, lambda: self.step(5.0)),
            (Qt.Key.Key_Home, lambda: self.seek_fraction(0.0)),
            (Qt.Key.Key_BracketLeft, lambda: self.nudge_speed(-1)),
            (Qt.Key.Key_BracketRight, lambda: self.nudge_speed(1)),
        ):
            sc = QShortcut(QKeySequence(key), self, context=ctx)
            sc.activated.connect(slot)
        open_sc = QShortcut(QKeySequence("Ctrl+Shift+O"), self, context=ctx)
        open_sc.activated.connect(self._open_clicked)

        self.timer = QTimer(self)
        self.timer.setInterval(tick_ms)
        self.timer.timeout.connect(self.tick)
        self._set_enabled(False)

    # -- opening -----------------------------------------------------------------
    @property
    def info(self) -> RecordingInfo | None:
        return self.reader.info if self.reader is not None else None

    def open(self, path: str | Path) -> bool:
        """Open ``path``; False (and the reason in the message bar) when it cannot be read."""
        self.close_recording()
        try:
            reader = RecordingReader(Path(path), workdir=self.workdir)
        except EdgeConsoleError as exc:
            self.message.show_message("error", f"Cannot replay this recording: {exc}")
            self.live_view.clear(PLACEHOLDER)
            return False
        info = reader.info
        if info.problem and not sum(info.counts.values()):
            # The reader "recovers" garbage as an empty recording: say it plainly instead.
            reader.close()
            self.message.show_message(
                "error",
                f"Cannot replay {Path(path).name}: nothing in it could be read. It is not an "
                f"MCAP recording, or it was cut off before its first second was written "
                f"({info.problem.partition(' chunk (')[2].removesuffix(')') or info.problem}).",
            )
            self.live_view.clear(PLACEHOLDER)
            self.info_label.setText("No recording open.")
            return False
        self.reader = reader
        self.source = ReplaySource(reader)
        if info.problem:
            self.message.show_message(
                "warning",
                f"{info.problem}. Kept {fmt_clock(info.duration_s)} with {info.frames} frames; "
                f"everything after that point was lost when the recording stopped.",
            )
        elif info.frames == 0:
            self.message.show_message("warning", "This recording has no camera frames.")
        else:
            self.message.dismiss()
        budget = budget_from(info)
        self.stats = LatencyStats(window=300, budget_ms=budget)
        self.latency_panel.set_budget(budget)
        self.latency_panel.reset()
        self.telemetry_plot.origin_ns = info.start_ns
        self.telemetry_plot.clear_data()
        has_telemetry = info.counts.get("/telemetry", 0) > 0
        has_events = info.counts.get("/events", 0) > 0
        self.telemetry_plot.setVisible(has_telemetry)
        self.event_log.clear()
        self.event_log.setVisible(has_events)
        self.side.setVisible(has_telemetry or has_events)
        self.info_label.setText(self._info_html(info))
        self.duration_label.setText(fmt_clock(info.duration_s))
        self.frames_shown = 0
        self._set_enabled(True)
        self._set_slider(0.0)
        self.timer.start()
        self.tick()  # first frame at once, paused
        return True

    def close_recording(self) -> None:
        self.timer.stop()
        self.source = None
        if self.reader is not None:
            self.reader.close()
            self.reader = None
        self._set_enabled(False)

    @staticmethod
    def _info_html(info: RecordingInfo) -> str:
        meta = info.metadata.get("edgeconsole.recording", {})
        parts = [f"<b>{info.path.name}</b>"]
        when = fmt_local(info.start_ns, millis=False)
        parts.append(f"{when} · {fmt_clock(info.duration_s)}")
        who = " / ".join(x for x in (meta.get("site"), meta.get("technician")) if x)
        if who:
            parts.append(who)
        target = meta.get("target_identity") or meta.get("target")
        if target:
            parts.append(f"target {target}")
        bundle = meta.get("bundle_id")
        if bundle:
            version = meta.get("bundle_version")
            h = meta.get("bundle_hash", "")
            parts.append(
                f"bundle {bundle}"
                + (f" v{version}" if version else "")
                + (f" ({h[:12]})" if h else "")
            )
        elif meta.get("model"):
            parts.append(f"model {meta['model']}")
        parts.append(f"{info.frames} frames")
        return " · ".join(parts)

    def _open_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open recording", "", "MCAP recordings (*.mcap);;All files (*)"
        )
        if path:
            self.open(path)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        urls = event.mimeData().urls()
        if urls and urls[0].toLocalFile().lower().endswith(".mcap"):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        urls = event.mimeData().urls()
        if urls:
            self.open(urls[0].toLocalFile())

    # -- controls ----------------------------------------------------------------
    def play(self) -> None:
        if self.source is not None:
            self.source.play()
            self._show_state()

    def pause(self) -> None:
        if self.source is not None:
            self.source.pause()
            self._show_state()

    def toggle(self) -> None:
        if self.source is None:
            return
        if self.source.playing:
            self.pause()
        else:
            self.play()

    def seek_fraction(self, fraction: float) -> None:
        if self.source is None:
            return
        self._restart_graphs()
        self.source.seek_fraction(fraction)
        self._set_slider(fraction)
        self.tick()

    def step(self, seconds: float) -> None:
        if self.source is None:
            return
        self._restart_graphs()
        self.source.seek(self.source.position_ns + int(seconds * 1e9))
        self.tick()

    def set_speed(self, speed: float) -> None:
        i = min(range(len(SPEEDS)), key=lambda k: abs(SPEEDS[k] - speed))
        self.speed_combo.setCurrentIndex(i)

    def nudge_speed(self, direction: int) -> None:
        i = max(0, min(len(SPEEDS) - 1, self.speed_combo.currentIndex() + direction))
        self.speed_combo.setCurrentIndex(i)

    def _speed_changed(self, _i: int) -> None:
        if self.source is not None:
            self.source.set_speed(float(self.speed_combo.currentData()))
            self._show_state()

    def _slider_changed(self, value: int) -> None:
        # Only a person moves the slider: tick() sets it with signals blocked.
        if self.source is None:
            return
        self._restart_graphs()
        self.source.seek_fraction(value / SLIDER_STEPS)
        self.tick()

    def _restart_graphs(self) -> None:
        self.stats = LatencyStats(window=300, budget_ms=self.stats.budget_ms)
        self.latency_panel.reset()
        self.telemetry_plot.clear_data()

    def _set_enabled(self, on: bool) -> None:
        for w in (self.play_button, self.slider, self.speed_combo):
            w.setEnabled(on)

    def _set_slider(self, fraction: float) -> None:
        if self.slider.isSliderDown():
            return  # never fight the person's hand
        self.slider.blockSignals(True)
        self.slider.setValue(round(max(0.0, min(1.0, fraction)) * SLIDER_STEPS))
        self.slider.blockSignals(False)

    def _show_state(self, ended: bool = False) -> None:
        src = self.source
        if src is None:
            return
        playing = src.playing
        self.play_button.setText("⏸ Pause" if playing else "▶ Play")
        speed = f" {src.speed:g}×" if src.speed != 1.0 else ""
        if ended:
            tag = "REPLAY · END"
        elif playing:
            tag = f"REPLAY{speed}"
        else:
            tag = "REPLAY · PAUSED"
        self.live_view.set_tag(tag)

    # -- the timer ---------------------------------------------------------------
    def tick(self) -> ReplayBatch | None:
        src = self.source
        if src is None:
            return None
        try:
            batch = src.poll()
        except EdgeConsoleError as exc:
            # A damaged message in the middle: stop there and say so; seeking past works.
            src.pause()
            self.message.show_message("error", f"Replay stopped: {exc}")
            self._show_state()
            return None
        self.last_batch = batch
        if batch.frame is not None:
            self.live_view.show_frame(LiveFrame(frame=batch.frame, result=batch.result))
            self.frames_shown += 1
        if batch.latency:
            for s in batch.latency:
                self.stats.add(s)
            self.latency_panel.add_samples(batch.latency)
        for t_ns, target, values in batch.telemetry:
            self.telemetry_plot.add(t_ns, target, values)
        for ev in batch.events:
            self.event_log.add_event(_event(ev))
        now = time.monotonic()
        if self.latency_panel.dirty and (
            now - self._last_stats >= STATS_EVERY_S or not batch.playing
        ):
            self._last_stats = now
            self.latency_panel.redraw()
            self.latency_panel.apply_stats(self.stats.snapshot())
        self.telemetry_plot.redraw()
        span = max(1, src.end_ns - src.start_ns)
        self._set_slider((batch.position_ns - src.start_ns) / span)
        self.position_label.setText(fmt_clock((batch.position_ns - src.start_ns) / 1e9))
        self._show_state(ended=batch.ended and not batch.playing)
        return batch

    def closeEvent(self, event: Any) -> None:
        self.close_recording()
        super().closeEvent(event)


def _event(data: dict[str, Any]) -> Event:
    level = data.get("level", "info")
    return Event(
        level=level if level in ("info", "warning", "error") else "info",
        text=str(data.get("text", "")),
        kind=str(data.get("kind", "status")),
        wall_time=fmt_iso(int(data["t_ns"])) if data.get("t_ns") else "",
    )
