"""``Session.poll()``: everything new since the last call, assembled into one ``Update``.

The window calls it at its own rate (the CLI in its loop): the newest frame with its
overlay, latency samples and stats, the pipeline's status, events from the pipeline,
the targets and the journal, new parts, camera setup and the PLC.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from edgeconsole.session.cameras import CameraSetupJob
from edgeconsole.session.line_access import LineAccess
from edgeconsole.session.run_state import SessionState
from edgeconsole.session.targets import TargetManager
from edgeconsole.session.update import Event, LiveFrame, PipelineStatus, Update
from edgeconsole.session.worker.runner import WorkerPipelineRunner

#: While a pipeline runs, its latency stats are summed up at most this often: each
#: snapshot sorts every stage's window (~1 ms of the caller's thread, the window's
#: event loop), and the window shows them at most every 250 ms anyway. Before and
#: after a run, every poll has them.
STATS_INTERVAL_S = 0.2


class UpdateAssembler:
    """Builds the ``Update`` of each poll from the session's parts."""

    def __init__(
        self,
        state: SessionState,
        line: LineAccess,
        targets: TargetManager,
        camera_setup: CameraSetupJob,
        plc_snapshot: Callable[[], Any],
    ) -> None:
        self._s = state
        self._line = line
        self._targets = targets
        self._camera_setup = camera_setup
        self._plc_snapshot = plc_snapshot
        self._last_health = 0.0
        self._stats_at = -STATS_INTERVAL_S
        #: When the camera's counters last went into the recording (once a second).
        self.camera_stats_at = 0.0

    def poll(self) -> Update:
        s = self._s
        with s.lock:
            frames = s.frames
            samples = frames.drain_samples()
            live = None
            new = frames.take_new()
            if new is not None:
                step = new.step
                live = LiveFrame(
                    frame=new.frame,
                    result=new.result if step is None else self._line.result(step),
                    line=None if step is None else (s.trigger.line.axis, step.line_px),
                    display=new.display,
                )
                frames.await_shown(live.frame)
            runner = s.runner
            if runner is not None:
                s.status.dropped = runner.dropped
                s.status.frames = runner.processed
                if isinstance(runner, WorkerPipelineRunner):
                    s.status.worker = runner.info()
                src_state = getattr(runner.source, "state", None)
                if src_state == "reconnecting" and s.status.state == "running":
                    s.status.state = "reconnecting"
                elif src_state == "open" and s.status.state == "reconnecting":
                    s.status.state = "running"
            if s.line is not None:
                s.status.parts_decided = s.line.decided
                s.status.decision_p99_ms = s.line.rolling_p99()
            parts = [] if s.line is None else s.line.take_new()
            s.status.fps = frames.fps()
            source = getattr(runner, "source", None) if runner is not None else None
        self.poll_camera(source)
        with s.lock:
            events = list(s.events)
            s.events.clear()
        targets = self._targets.poll()
        events.extend(targets.events)
        events.extend(self._journal_events())
        now = time.monotonic()
        with s.lock:
            running = s.status.state == "running"
            stats = None
            if (samples or live or events or not running) and (
                not running or now - self._stats_at >= STATS_INTERVAL_S
            ):
                stats = s.frames.stats.snapshot()
                self._stats_at = now
            status = PipelineStatus(**s.status.to_json())
        return Update(
            status=status,
            live=live,
            latency=samples,
            stats=stats,
            events=events,
            targets=targets.targets,
            telemetry=targets.telemetry,
            jobs=targets.jobs,
            parts=parts,
            camera_setup=self._camera_setup.poll(),
            plc=self._plc_snapshot(),
        )

    def poll_camera(self, source: Any) -> None:
        """An industrial camera's counters and notices: into the status (latency panel),
        the event log, and once a second into the recording."""
        stats_fn = getattr(source, "camera_stats", None)
        if stats_fn is None:
            return
        s = self._s
        stats = stats_fn()
        for level, text in source.drain_notices():
            s.event(level, text, "camera")
            s.audit("camera", level, text)
        with s.lock:
            s.status.camera = stats
            recorder = s.recorder
        now = time.monotonic()
        if recorder is not None and now - self.camera_stats_at >= 1.0:
            self.camera_stats_at = now
            recorder.write_camera_stats(stats)

    def _journal_events(self) -> list[Event]:
        journal = self._s.journal
        if journal is None:
            return []
        now = time.monotonic()
        if now - self._last_health >= 1.0:
            self._last_health = now
            journal.health()  # retries held audit entries; telemetry resumes by itself
        return [
            Event(level=n.level, text=n.text, kind=n.kind, wall_time=n.wall_time)
            for n in journal.notices.drain()
        ]
