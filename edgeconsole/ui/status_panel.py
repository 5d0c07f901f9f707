"""Status bar contents: run state, fps, dropped frames, parts, model, source, budget."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QStatusBar

from edgeconsole.core.clock import now_ns
from edgeconsole.session.update import PipelineStatus
from edgeconsole.ui.layout_fence import LayoutFence
from edgeconsole.ui.theme import COLOURS


def source_label(spec: str) -> str:
    """A short human name for a source spec."""
    if not spec:
        return "—"
    if spec.startswith("synthetic:"):
        kind = spec.split(":", 1)[1].split("?", 1)[0] or "scene"
        return f"Synthetic {kind}"
    if spec.startswith("camera:"):
        return f"Camera {spec.split(':', 1)[1]}"
    if "://" in spec:
        return spec
    return Path(spec).name or spec


def model_label(path: str) -> str:
    if not path:
        return "—"
    p = Path(path)
    return p.parent.name if p.name == "model.json" else p.name


class StatusPanel:
    """Fills a QStatusBar with labels that are only rewritten when they change."""

    def __init__(self, bar: QStatusBar, counter_interval_s: float = 0.0) -> None:
        """``counter_interval_s``: the counters (fps, frames, dropped) are rewritten at
        most this often. Each rewrite repaints its label with the next frame's paint;
        at the window's 30 Hz nobody reads them faster than a few times a second."""
        self.state = QLabel("idle")
        self.state.setObjectName("stateLabel")
        self.state.setProperty("state", "idle")
        self.fps = QLabel("fps —")
        self.frames = QLabel("frames 0")
        self.dropped = QLabel("dropped 0")
        self.parts = QLabel("")
        self.model = QLabel("model —")
        self.source = QLabel("source —")
        self.budget = QLabel("budget —")
        # The parts count changes with every part and its width with the numbers: its
        # relayouts stay in the fence unless it needs more room.
        self.parts_box = LayoutFence(self.parts)
        for w in (self.state, self.fps, self.frames, self.dropped, self.parts_box):
            bar.addWidget(w)
        # The counters change on every tick. A label whose text changes width asks the
        # status bar for a new layout, and the relayout repaints the whole bar (about
        # 170 label paints a second while running, issue 15): a label of fixed size
        # never asks. Sized in the bar, with its style's padding, for its widest text.
        for label, widest in (
            (self.fps, "fps 000.0"),
            (self.frames, "frames 0000000"),
            (self.dropped, "dropped 00000"),
        ):
            text = label.text()
            label.setText(widest)
            label.ensurePolished()
            label.setFixedSize(label.sizeHint())
            label.setText(text)
            label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        for w in (self.model, self.source, self.budget):
            bar.addPermanentWidget(w)
        self.fps.setToolTip("Frames shown per second")
        self.dropped.setToolTip("Frames the pipeline skipped because a newer one was waiting")
        self.parts.setToolTip("Inspected parts that passed / failed in this run")
        self.parts_box.setVisible(False)
        self._state = "idle"
        self._has_drops = False
        self.counter_interval_ns = int(counter_interval_s * 1e9)
        self._counters_at = -(1 << 62)

    @staticmethod
    def _set(label: QLabel, text: str) -> None:
        if label.text() != text:
            label.setText(text)

    @staticmethod
    def _set_tip(label: QLabel, text: str) -> None:
        # Qt sends a ToolTipChange event for every set, even of the same text.
        if label.toolTip() != text:
            label.setToolTip(text)

    def apply(self, status: PipelineStatus) -> None:
        new_state = status.state != self._state
        if new_state:
            self._state = status.state
            self.state.setProperty("state", status.state)
            self.state.style().unpolish(self.state)
            self.state.style().polish(self.state)
        self._set(self.state, status.state.upper())
        now = now_ns()
        if (
            new_state
            or status.state != "running"
            or now - self._counters_at >= self.counter_interval_ns
        ):
            self._counters_at = now
            self._set(self.fps, f"fps {status.fps:.1f}")
            self._set(self.frames, f"frames {status.frames}")
            self._set(self.dropped, f"dropped {status.dropped}")
        has_drops = bool(status.dropped)
        if has_drops != self._has_drops:  # restyling is not free: only on change
            self._has_drops = has_drops
            self.dropped.setStyleSheet(f"color: {COLOURS.warn};" if has_drops else "")
        if status.mode == "parts":
            # Parts, never frames: each physical part once, decided or missed.
            text = (
                f"parts {status.parts_decided}: <span style='color:{COLOURS.ok}'>pass "
                f"{status.parts_passed}</span>  <span style='color:{COLOURS.fail}'>fail "
                f"{status.parts_failed}</span>"
            )
            if status.parts_missed:
                text += f"  <span style='color:{COLOURS.warn}'>missed {status.parts_missed}</span>"
            if status.parts_late:
                text += f"  <span style='color:{COLOURS.warn}'>late {status.parts_late}</span>"
            if status.decision_p99_ms is not None:
                late = status.budget_ms is not None and status.decision_p99_ms > status.budget_ms
                colour = COLOURS.warn if late else COLOURS.ok
                text += (
                    f"  <span style='color:{colour}'>decision p99 "
                    f"{status.decision_p99_ms:.1f} ms</span>"
                )
            self._set(self.parts, text)
            self._set_tip(self.parts, f"trigger {status.trigger}")
            self.parts_box.setVisible(True)
        elif status.parts_passed or status.parts_failed:
            self._set(
                self.parts,
                f"<span style='color:{COLOURS.ok}'>pass {status.parts_passed}"
                f"</span>  <span style='color:{COLOURS.fail}'>fail "
                f"{status.parts_failed}</span>",
            )
            self.parts_box.setVisible(True)
        else:
            self._set(self.parts, "")
            self.parts_box.setVisible(False)
        self._set(self.model, f"model {model_label(status.model)}")
        self._set(self.source, f"source {source_label(status.source)}")
        self._set_tip(self.model, status.model)
        self._set_tip(self.source, status.source)
        self.set_budget(status.budget_ms)

    def set_budget(self, ms: float | None) -> None:
        self._set(self.budget, "budget off" if ms is None else f"budget {ms:.0f} ms")
