"""The main window: targets on the left, live view in the middle, latency on the right.

It only shows what ``session.poll()`` returns and sends the person's commands
back to the session. Opening a source or a model happens on the session's own
thread; here it shows as a busy bar with Cancel while the state is "opening".
Nothing that goes wrong in a source or model may take the window down: errors
arrive as events and land in the message bar and the event log.

Its actions, toolbar and menus are built by :mod:`edgeconsole.ui.window_chrome`,
the source, model and budget choices live in :mod:`edgeconsole.ui.window_choices`
(its bases); this module keeps the layout, the commands and the poll tick.
"""

from __future__ import annotations

import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Literal

from PySide6.QtCore import QEvent, QSettings, QTimer
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QWidget,
)

import edgeconsole
from edgeconsole.core.clock import now_ns, wall_iso
from edgeconsole.session.update import Event, PipelineStatus, Update
from edgeconsole.ui.paint_slices import PaintSlices
from edgeconsole.ui.poll_loop import PollLoop
from edgeconsole.ui.session_port import SessionPort
from edgeconsole.ui.settings import WindowSettings
from edgeconsole.ui.status_panel import StatusPanel
from edgeconsole.ui.targets_panel import SYNTHETIC_CONVEYOR
from edgeconsole.ui.window_choices import default_model, find_sample_models, sample_models_dir
from edgeconsole.ui.window_layout import WindowLayout
from edgeconsole.ui.window_state import (
    ACTIVE_STATES,
    IDLE_STATES,
    state_look,
)

__all__ = ["MainWindow", "default_model", "find_sample_models", "sample_models_dir"]

MAX_EVENTS_PER_TICK = 50
#: A starting window makes its session after the docks' contents have painted, or
#: after this long if no paint comes (a minimised window).
OPEN_AFTER_FILL_MS = 250


class MainWindow(WindowLayout):
    def __init__(
        self,
        session: SessionPort | None,
        settings: QSettings,
        parent: QWidget | None = None,
        *,
        open_session: Callable[[], SessionPort] | None = None,
    ) -> None:
        """``session``, or None and ``open_session``, which makes it: then the window
        paints first, saying it is starting, and makes the session right after that
        first paint (issue 15: importing the session's graph took ~0.3 s of the
        start-up); ``when_ready`` runs what needs the session."""
        if session is None and open_session is None:
            raise ValueError("MainWindow needs a session or a way to open one")
        super().__init__(parent)
        self.settings = WindowSettings(settings)
        self.setWindowTitle(f"EdgeConsole {edgeconsole.__version__}")
        self.setObjectName("mainWindow")
        self.setDockNestingEnabled(True)

        self.status = PipelineStatus()
        self._source = self.settings.source or SYNTHETIC_CONVEYOR
        self._model = self.settings.model or default_model()
        # Until the person sets one, each model's own budget applies.
        self._budget_auto = self.settings.budget_follows_model
        self._budget: float | None = None if self._budget_auto else self.settings.budget_ms
        self._pending_events: deque[Event] = deque()
        self._pending_restart = False
        # Not 0: the monotonic clock counts from boot, so on a machine up for less than
        # an interval the first chart or stats draw would wait (CI machines are fresh).
        self._last_error_shown = ""
        self.targets_refreshed = 0
        self._layout_restored = False
        self._default_layout_done = False

        self._build_central()
        # A starting window paints its frame and the docks' titles first; what the
        # docks show comes on the loop's next pass, the session after that.
        self._build_docks(fill=session is not None)
        self._unlogged: list[Event] = []
        self._build_actions()
        self._build_toolbar()
        self._build_menus()
        if session is not None:
            self._mount_trigger()
        self.status_panel = StatusPanel(self.statusBar(), counter_interval_s=0.25)
        self.bundles_panel: Any = None
        self.record_action: Any = None
        self.workspaces: Any = None
        self.devices: Any = None
        self.poll_loop: PollLoop | None = None
        self.status_panel.set_budget(self._budget)
        self._open_session = open_session
        self._opening_posted = False
        self._open_after_paint = False
        self._ready: list[Callable[[], None]] = []
        if session is not None:
            self._attach(session)
        else:
            self._restore_geometry()  # its size at once; the docks' state once they exist
            self._apply_state("starting")

    @property
    def ready(self) -> bool:
        """The session is attached (at once, or after the first paint)."""
        return self.poll_loop is not None

    def when_ready(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` once the session is attached (now, if it is)."""
        if self.ready:
            fn()
        else:
            self._ready.append(fn)

    def event(self, event: QEvent) -> bool:
        # The first paint has been asked for: the session is made on the loop's next
        # pass, after it (a zero timer posted before show() would run before it).
        if (
            event.type() == QEvent.Type.Paint
            and self._open_session is not None
            and not self._opening_posted
        ):
            self._opening_posted = True
            QTimer.singleShot(0, self._fill_then_open)
        elif event.type() == QEvent.Type.Paint and self._open_after_paint:
            self._open_after_paint = False
            QTimer.singleShot(0, self._open_and_attach)
        return super().event(event)

    def _fill_then_open(self) -> None:
        if self._open_session is None:
            return  # closed while starting
        self.fill_docks()
        self._mount_trigger()
        unlogged, self._unlogged = self._unlogged, []
        for event in unlogged:
            self.event_log.add_event(event)
        # The session's imports and journal hold the loop a few hundred ms on a laptop:
        # the docks' contents are shown first. Their layout requests come before the
        # repaint, so a zero timer would run first; the repaint posts the opening
        # (event()), and a hidden window that never repaints opens it anyway.
        self._open_after_paint = True
        self.update()
        QTimer.singleShot(OPEN_AFTER_FILL_MS, self._open_and_attach)

    def _open_and_attach(self) -> None:
        open_session, self._open_session = self._open_session, None
        if open_session is None:
            return
        self._attach(open_session(), starting=True)
        ready, self._ready = self._ready, []
        for fn in ready:
            fn()

    def _attach(self, session: SessionPort, *, starting: bool = False) -> None:
        """The parts that work through the session: the workspaces, the devices, the
        trigger, the poll loop."""
        from edgeconsole.ui.devices.mount import mount_devices
        from edgeconsole.ui.workspaces import mount_workspaces

        self.session = session
        self.workspaces = mount_workspaces(self)
        self.devices = mount_devices(self)  # serial devices: tree rows, panel, telemetry
        self._restore_geometry(size=not starting)
        if starting and not self._layout_restored:
            # Shown before the session (its first paint, while starting): the docks
            # added since take their share once laid out.
            QTimer.singleShot(0, self.apply_default_layout)
        self._apply_state("idle")

        self.live_view.on_shown = self._on_frame_shown
        self.live_view.on_area = self._on_view_area
        self.live_view.on_line_moved = self._on_line_moved
        self._call("trigger", self.session.set_trigger, self.settings.trigger)
        self.targets.source_activated.connect(self.choose_source)
        self.busy.cancel_requested.connect(self.cancel)

        self.slices = PaintSlices(self._slice_failed, self)
        self.poll_loop = PollLoop(self._tick, parent=self)
        self.poll_loop.start()
        # Probing cameras may take a moment; let the window appear first.
        QTimer.singleShot(0, self.refresh_targets)

    # ------------------------------------------------------------- properties
    @property
    def source(self) -> str:
        return self._source

    @property
    def model(self) -> str:
        return self._model

    @property
    def budget_ms(self) -> float | None:
        return self._budget

    def _restart_if_running(self) -> None:
        # Switching source or model while live restarts once the session stopped.
        if self.status.state in ACTIVE_STATES:
            self._pending_restart = True
            self.session.stop()

    # ------------------------------------------------------------- commands
    def _call(self, doing: str, fn: object, *args: object, **kwargs: object) -> bool:
        """Run a session command; a failure becomes a message, never a crash."""
        try:
            fn(*args, **kwargs)  # type: ignore[operator]
        except Exception as exc:
            self._report(
                Event(
                    level="error", text=f"Could not {doing}: {exc}", kind="ui", wall_time=wall_iso()
                )
            )
            return False
        return True

    def start(self) -> None:
        if self.status.state in ACTIVE_STATES or self.status.state == "stopping":
            return
        if not self._model:
            self._report(
                Event(
                    level="warning",
                    kind="ui",
                    wall_time=wall_iso(),
                    text="No model chosen: pick one with Ctrl+M, then press F5.",
                )
            )
            return
        self.message_bar.dismiss()
        self.latency.reset()
        self.pacer.reset()
        self.live_view.clear()
        if self._call(
            "start",
            self.session.start_local,
            self._source,
            self._model,
            budget_ms=None if self._budget_auto else self._budget,
            realtime=True,
            loop=True,
            model_budget=self._budget_auto,
        ):
            # Show "opening" at once; the next poll confirms it.
            self.status = replace(self.status, state="opening", error=None)
            self.status_panel.apply(self.status)
            self._apply_state("opening")

    def _on_line_moved(self, axis: int, fraction: float) -> None:
        """The trigger line was dragged: the running line follows, the place is kept."""
        current = self.settings.trigger
        orientation: Literal["vertical", "horizontal"] = "vertical" if axis == 0 else "horizontal"
        from edgeconsole.session.api import TriggerLine

        moved = current.with_line(TriggerLine(orientation, round(fraction, 4)))
        self.settings.trigger = moved
        self._call("trigger", self.session.set_trigger, moved)
        self.trigger_control.refresh()
        self._report(
            Event(
                level="info",
                kind="ui",
                wall_time=wall_iso(),
                text=f"trigger line moved to {moved.line.describe()} (kept for the next run)",
            )
        )

    def start_demo(self) -> None:
        """What ``edgeconsole demo`` does: the synthetic conveyor with the fast inspector,
        and the demo's virtual PLC answered with each part's decision."""
        self._source = SYNTHETIC_CONVEYOR
        self._refresh_source_combo()
        model = default_model()
        if model:
            self._model = model
            self._refresh_model_combo()
        self.start()  # first, so the device's telemetry tab does not take the front
        if self.devices is not None:
            self.devices.start_demo()  # the virtual serial device, connected and streaming
        self._start_demo_plc()

    def _start_demo_plc(self) -> None:
        from edgeconsole.session.demo_plc import start_demo_plc

        try:
            start_demo_plc(self.session, background=True)
        except Exception as exc:  # the demo goes on without its PLC, and says why
            self._report(
                Event(level="error", kind="plc", wall_time=wall_iso(), text=f"demo PLC: {exc}")
            )

    def stop(self) -> None:
        self._pending_restart = False
        if self.status.state == "opening":
            self.cancel()
            return
        if self.status.state in ACTIVE_STATES:
            self._call("stop", self.session.stop)

    def cancel(self) -> None:
        self._pending_restart = False
        self._call("cancel", self.session.cancel)

    def stop_or_cancel(self) -> None:
        self.stop()

    def refresh_targets(self) -> None:
        try:
            cameras = self.session.list_cameras()
        except Exception as exc:
            cameras = []
            self._report(
                Event(
                    level="warning",
                    kind="targets",
                    wall_time=wall_iso(),
                    text=f"Could not list cameras: {exc}",
                )
            )
        self.targets.set_cameras(cameras)
        self._rebuild_source_menu(cameras)
        self.targets_refreshed += 1

    # --------------------------------------------------------------- polling
    def _on_frame_shown(self, frame_index: int, shown_ns: int) -> None:
        try:
            self.session.mark_shown(frame_index, shown_ns)
        except Exception as exc:
            self._report(
                Event(
                    level="warning",
                    kind="ui",
                    wall_time=wall_iso(),
                    text=f"Could not stamp frame {frame_index} as shown: {exc}",
                )
            )

    def _on_view_area(self, width: int, height: int) -> None:
        """The live view's size: the session prepares frames at it (session/display.py)."""
        self._call("prepare frames for the live view", self.session.set_display_area, width, height)

    def _tick(self, deadline_ns: int) -> None:
        try:
            update = self.session.poll()
        except Exception as exc:
            self._report_once(f"Reading the session failed: {exc}")
            return
        try:
            self.apply_update(update, deadline_ns, draw=False)
        except Exception:
            self._report_once("Display error: " + traceback.format_exc(limit=3).strip())
            return
        # The charts and the stats each draw in slices of their own after this tick's
        # frame is painted (ui/paint_slices.py): no event paints all of it at once.
        t = now_ns()
        if self.pacer.chart_due(t):
            self.pacer.post_chart(self.slices)
        if self.pacer.stats_due(t):
            self.pacer.post_stats(self.slices)

    def _slice_failed(self, exc: BaseException) -> None:
        text = "".join(traceback.format_exception(exc, limit=3)).strip()
        self._report_once("Display error: " + text)

    def _report_once(self, text: str) -> None:
        if text != self._last_error_shown:
            self._last_error_shown = text
            self._report(Event(level="error", text=text, kind="ui", wall_time=wall_iso()))

    def apply_update(
        self, update: Update, deadline_ns: int | None = None, *, draw: bool = True
    ) -> None:
        """Apply one poll() batch; drawing that does not fit the deadline waits a tick.
        ``draw=False``: the charts and the stats table are left to the caller (the poll
        tick draws them in events of their own)."""
        if deadline_ns is None:
            deadline_ns = now_ns() + 12_000_000
        # Events before status: the error event explains the "error" state, and
        # the status line is only a fallback when no event said it.
        self._pending_events.extend(update.events)
        for _ in range(min(len(self._pending_events), MAX_EVENTS_PER_TICK)):
            self._report(self._pending_events.popleft())
        self._apply_status(update.status)
        if update.camera_setup:
            panel = self.workspaces.panels.get("Camera")
            if panel is not None and hasattr(panel, "apply_results"):
                panel.apply_results(update.camera_setup)
        plc_panel = self.workspaces.panels.get("PLC")
        if plc_panel is not None and hasattr(plc_panel, "apply"):
            plc_panel.apply(update.plc)  # None: nothing runs (or it could not connect)
        if update.live is not None:
            self.live_view.show_frame(update.live)
        self.latency.add_samples(update.latency)
        self.latency.add_decisions(update.parts)
        if self.devices is not None:
            self.devices.apply(update, deadline_ns)
        if update.stats is not None:
            self.pacer.take_stats(update.stats)
        if draw:
            self.pacer.draw_chart(deadline_ns)
            self.pacer.draw_stats(deadline_ns)

    @property
    def chart_interval_ns(self) -> int:
        return self.pacer.chart_interval_ns

    @chart_interval_ns.setter
    def chart_interval_ns(self, ns: int) -> None:
        self.pacer.chart_interval_ns = ns

    @property
    def stats_interval_ns(self) -> int:
        return self.pacer.stats_interval_ns

    @stats_interval_ns.setter
    def stats_interval_ns(self, ns: int) -> None:
        self.pacer.stats_interval_ns = ns

    def _apply_status(self, status: PipelineStatus) -> None:
        previous = self.status.state
        previous_budget = self.status.budget_ms
        self.status = status
        self.status_panel.apply(status)
        self.latency.apply_camera(status.camera)
        self.latency.set_parts_mode(status.mode == "parts")
        # The session's budget is the truth (a model may bring its own).
        if status.budget_ms != previous_budget and status.state != "idle":
            self.latency.set_budget(status.budget_ms)
            if self._budget_auto:
                self._budget = status.budget_ms
                self.budget_spin.set_model_budget(status.budget_ms)
        if status.state != previous:
            self._apply_state(status.state)
            if (
                status.state == "error"
                and status.error
                and not self.message_bar.is_showing(status.error)
                and not any(e.text == status.error for e in self._pending_events)
            ):
                self._report(
                    Event(level="error", text=status.error, kind="pipeline", wall_time=wall_iso()),
                    log=False,
                )
            if status.state in IDLE_STATES and self._pending_restart:
                self._pending_restart = False
                self.start()

    def _apply_state(self, state: str) -> None:
        look = state_look(state, self._source, self._model)
        self.start_action.setEnabled(look.can_start)
        self.stop_action.setEnabled(look.can_stop)
        self.cancel_action.setEnabled(look.can_cancel)
        if look.busy is not None:
            self.busy.start(look.busy)
        else:
            self.busy.finish()
        self.live_view.set_tag(look.tag)
        self.live_view.set_placeholder(look.placeholder)

    def show_about(self) -> None:
        from edgeconsole.ui.about import show_about

        show_about(self)

    def report(self, event: Event) -> None:
        """Show something the app itself (not the session) needs to tell the person."""
        self._report(event)

    def _report(self, event: Event, log: bool = True) -> None:
        if log and not self.docks_filled:
            self._unlogged.append(event)
        elif log:
            self.event_log.add_event(event)
        if event.level not in ("error", "warning"):
            return
        # A warning never hides an error that is still on screen.
        error_on_screen = self.message_bar.isVisible() and self.message_bar.level == "error"
        if event.level == "error" or not error_on_screen:
            self.message_bar.show_event(event)

    # ----------------------------------------------------------------- close
    def closeEvent(self, event: QCloseEvent) -> None:
        self._open_session = None  # closed while starting: the session is never made
        if self.poll_loop is not None:
            self.poll_loop.stop()
            self.slices.clear()
        if self.bundles_panel is not None:
            self.bundles_panel.shutdown()
        self.save_settings()
        super().closeEvent(event)
