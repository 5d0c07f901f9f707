"""What the session's parts share about the pipeline, behind one lock.

``Session`` is a composition root: opening a pipeline (session/opening.py), taking
runner outputs (session/outputs.py), assembling ``poll()`` (session/poll.py),
recording (session/recording.py), the line PLC (session/plc_control.py) and the
live-frame bookkeeping (session/live_frames.py) are each an object of their own.
They share this state explicitly: every field below is read and written with
``lock`` held, and ``generation`` tells a stale thread's work from the current run's.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeconsole.core.clock import wall_iso
from edgeconsole.inference.line import TriggerConfig
from edgeconsole.session.display import DisplayPrep
from edgeconsole.session.live_frames import LiveFrames
from edgeconsole.session.runner import Runner
from edgeconsole.session.update import Event, Level, PipelineStatus

if TYPE_CHECKING:  # the recorder pulls in mcap and OpenCV: imported when recording starts
    from edgeconsole.inference.line.state import LineState
    from edgeconsole.journal.journal import Journal
    from edgeconsole.journal.recorder import McapRecorderSink
    from edgeconsole.session.annotate import FrameAnnotator


@dataclass
class RunSettings:
    """How the session runs its pipelines (public attributes of ``Session``)."""

    #: A window is attached: workers run at lower priority and onnxruntime leaves
    #: one core to the event loop, so the display stays smooth under full load.
    interactive: bool
    #: Capture and inference of the frame pipeline run in a worker process
    #: (session/worker/): the window's interpreter never waits for them, and a
    #: crash there is reported and the worker restarted.
    use_worker: bool
    #: Where bundle signers' public keys are (None: the app's own trust store).
    trust_dir: Path | None


class SessionState:
    """The pipeline's shared state: status, run generation, runner, line, recorder."""

    def __init__(self, journal: Journal | None, stats_window: int) -> None:
        self.lock = threading.Lock()
        self.status = PipelineStatus()
        self.generation = 0  # bumps on every start/stop so stale workers cannot publish
        self.events: deque[Event] = deque(maxlen=500)
        self.changed = threading.Event()
        self.journal = journal
        self.frames = LiveFrames(stats_window)
        #: Frames made ready for the window's screen, once it says how big its view is.
        self.frames.prep = DisplayPrep(self.lock, self.frames.publish)
        self.runner: Runner | None = None
        self.engine: Any = None
        #: Per-part QC: the trigger the next run starts with (and the running line's).
        self.trigger = TriggerConfig()
        self.line: LineState | None = None
        self.recorder: McapRecorderSink | None = None
        self.bundle: Any = None  # the verified bundle the run's model came from
        self.annotate_to: Path | None = None
        self.annotator: FrameAnnotator | None = None

    def begin(self, status: PipelineStatus) -> int:
        """A new run opens: its generation (the last run's outputs are ignored from now
        on), fresh live outputs and ``status``, no line yet."""
        with self.lock:
            self.generation += 1
            self.frames.reset(status.budget_ms)
            self.status = status
            self.line = None
            return self.generation

    def event(self, level: Level, text: str, kind: str) -> None:
        """Into the log the window shows, the recording, and (not routine) the audit."""
        with self.lock:
            self.events.append(Event(level=level, text=text, kind=kind, wall_time=wall_iso()))
            recorder = self.recorder
        if recorder is not None:
            recorder.write_event(level, text, kind, "local://")
        if level != "info" or kind == "pipeline":
            self.audit(kind, level, text)
        self.changed.set()

    def audit(self, kind: str, level: str, message: str, **fields: Any) -> None:
        if self.journal is not None:
            self.journal.audit.log(kind, level, "local://", message, **fields)

    def fail(self, gen: int, message: str) -> None:
        with self.lock:
            if gen != self.generation:
                return
            self.status.state = "error"
            self.status.error = message
        self.event("error", message, "pipeline")
