"""Opening a pipeline on its own thread, and the choice of its runner.

``Session.start_local``/``start_stream`` bump the run's generation and start
``open_and_run``/``open_stream`` here on a thread: the source, the model (where
session/engine_choice.py says), the recording from the first frame, then the runner:
the inference worker's, the per-part line's (session/line_runner.py), the frame
pipeline's (session/pipeline.py) or a gateway stream's. A run cancelled or restarted
while it opened is closed, never published.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeconsole.core.clock import wall_iso
from edgeconsole.core.errors import EdgeConsoleError
from edgeconsole.core.sched import lower_thread_priority
from edgeconsole.core.sched import permitted as rt_priority_permitted
from edgeconsole.core.sched import wanted as rt_priority_wanted
from edgeconsole.core.source import FrameSource
from edgeconsole.inference.line import TriggerConfig
from edgeconsole.inference.line.state import LineState, warm_up
from edgeconsole.session.engine_choice import EngineChoice, is_offline
from edgeconsole.session.line_access import LineAccess
from edgeconsole.session.line_runner import LineRunner
from edgeconsole.session.outputs import RunnerOutputs
from edgeconsole.session.pipeline import LocalPipelineRunner
from edgeconsole.session.recording import Recording
from edgeconsole.session.run_state import RunSettings, SessionState
from edgeconsole.session.runner import Runner
from edgeconsole.session.targets import TargetManager
from edgeconsole.session.update import Event
from edgeconsole.session.worker.runner import WorkerPipelineRunner

if TYPE_CHECKING:  # the recorder pulls in mcap and OpenCV: imported when recording starts
    from edgeconsole.journal.recorder import McapRecorderSink


@dataclass(frozen=True)
class OpenRequest:
    """What ``Session.start_local`` was asked to open (its docstring says each field)."""

    source: str
    model: str
    threads: int | None
    realtime: bool
    loop: bool
    max_frames: int | None
    record_to: Path | None
    remote: tuple[str, str] | None
    model_budget: bool
    target: str | None
    token_file: Path | None


class _Abandoned(Exception):
    pass


class PipelineOpener:
    """Opens the pipeline of one generation and installs its runner in the state."""

    def __init__(
        self,
        state: SessionState,
        settings: RunSettings,
        engines: EngineChoice,
        recording: Recording,
        outputs: RunnerOutputs,
        parts: LineAccess,
        targets: TargetManager,
        set_budget: Callable[[float | None], None],
    ) -> None:
        self._s = state
        self._settings = settings
        self._engines = engines
        self._recording = recording
        self._outputs = outputs
        self._parts = parts
        self._targets = targets
        self._set_budget = set_budget

    def open_and_run(self, gen: int, req: OpenRequest) -> None:
        s = self._s
        source: FrameSource | None = None
        engine: Any = None
        recorder: McapRecorderSink | None = None
        try:
            from edgeconsole.sources.factory import describe_spec, open_source

            spec, engine = self._open_engine(gen, req)
            if isinstance(engine, WorkerPipelineRunner):
                source = engine.source  # the worker opened it
            else:
                from edgeconsole.session.demo_camera import prepare as prepare_demo_camera

                prepare_demo_camera(req.source)  # the demo conveyor's frames, written once
                source = open_source(req.source, realtime=req.realtime, loop=req.loop)
                source.open()
            if (
                req.model_budget
                and s.status.budget_ms is None
                and spec.latency_budget_ms is not None
            ):
                self._set_budget(spec.latency_budget_ms)
            if req.record_to is not None:
                recorder = self._recording.new_recorder(
                    req.record_to,
                    None,
                    f"{spec.name} v{spec.version}",
                    describe_spec(req.source),
                    # A remote (gateway) engine has no local session: nothing to record.
                    getattr(engine, "runtime", None),
                )
            with s.lock:
                if gen != s.generation:  # cancelled or restarted while opening
                    raise _Abandoned()
                if recorder is not None:
                    s.recorder = recorder
                self._run(gen, req, spec, engine, source)
                s.status.source = describe_spec(req.source)
            if recorder is not None:
                self._recording.started(recorder)
            s.event("info", f"running {s.status.model} on {s.status.source}", "pipeline")
        except _Abandoned:
            _close(recorder, source)
            if engine is not None and hasattr(engine, "close"):
                engine.close()
        except EdgeConsoleError as exc:
            _close(recorder, source)
            s.fail(gen, str(exc))
        except Exception as exc:  # an unexpected bug: show it, keep the app alive
            _close(recorder, source)
            s.fail(gen, f"unexpected error while opening: {exc!r}")
            traceback.print_exc()

    def _open_engine(self, gen: int, req: OpenRequest) -> tuple[Any, Any]:
        """The model's description and what runs it: a target's line, a remote
        server, the inference worker (which opens the source too) or a local engine."""
        if req.target is not None:
            from edgeconsole.session.target_line import open_target_line

            return open_target_line(
                req.target,
                req.model,
                self._settings.trust_dir,
                threads=req.threads,
                token_file=req.token_file,
            )
        if req.remote is not None:
            if self._settings.interactive:
                lower_thread_priority()
            return self._engines.remote(req.model, req.remote)
        spec, files = self._engines.describe(req.model)
        if not self._engines.runs_in_worker(req.source):
            return spec, self._engines.local_engine(spec, files, req.threads)
        budget = self._s.status.budget_ms
        if budget is None and req.model_budget:
            budget = spec.latency_budget_ms
        worker = self._engines.worker_runner(
            gen,
            spec,
            files,
            req.source,
            req.threads,
            req.realtime,
            req.loop,
            req.max_frames,
            budget,
        )
        return spec, worker

    def _run(self, gen: int, req: OpenRequest, spec: Any, engine: Any, source: Any) -> None:
        """The runner for ``engine`` on ``source``, started (the lock held)."""
        s = self._s
        in_worker = isinstance(engine, WorkerPipelineRunner)
        s.engine = None if in_worker else engine
        inspector = getattr(engine, "inspector", None)
        if inspector is not None:
            s.status.first_decision_ms = warm_up(inspector)
        lossless = not req.realtime and is_offline(req.source)
        runner: Runner
        if in_worker:
            s.line = None
            if engine.per_part:
                s.line = LineState(s.status.budget_ms, s.trigger.describe())
                s.status.mode = "parts"
                s.status.trigger = s.trigger.describe()
                s.status.first_decision_ms = engine.first_decision_ms
            runner = engine
        elif inspector is not None and req.remote is None:
            runner = self._line_runner(gen, source, inspector, req.max_frames, lossless)
        else:
            s.line = None
            runner = LocalPipelineRunner(
                source,
                engine,
                self._outputs.sink(gen, "local://"),
                max_frames=req.max_frames,
                lossless=lossless,
            )
        s.runner = runner
        runner.start()
        if s.line is not None and not lossless:
            self._say_if_not_realtime()
        s.status.state = "running"
        s.status.model = f"{spec.name} v{spec.version}"
        s.status.runtime = dict(getattr(engine, "runtime", None) or {})
        if req.remote is not None:
            s.status.model += f" · infer (remote) {req.remote[1]} on {req.remote[0]}"
        if req.target is not None:
            s.status.model += f" · parts decided on {req.target}"

    def _say_if_not_realtime(self) -> None:
        """Once per live line run: the decision path asks for real-time priority (``core/
        sched.py``); where the system refuses it, the person is told what that costs."""
        why = rt_priority_permitted() if rt_priority_wanted() else ""
        if not why:  # granted, or turned off on purpose (EDGECONSOLE_RT_PRIORITY=0)
            return
        self._s.events.append(
            Event(
                "info",
                f"Decisions run at normal priority: {why}. On a busy laptop a decision can "
                "wait for a time slice and be late; for a station, allow real-time "
                "priority (ulimit -r 10, or LimitRTPRIO=10 in its service).",
                "pipeline",
                wall_iso(),
            )
        )

    def _line_runner(
        self,
        gen: int,
        source: FrameSource,
        inspector: Any,
        max_frames: int | None,
        lossless: bool,
    ) -> LineRunner:
        """Called with the lock held, on the opening thread (never niced in this mode)."""
        s = self._s
        budget = s.status.budget_ms
        camera_trigger = (
            getattr(source, "trigger", None) if hasattr(source, "fire_trigger") else None
        )
        if camera_trigger and s.trigger.kind == "line":
            # A camera in trigger mode takes one frame per part: the camera's trigger is
            # the part trigger (a line in the image would judge a part twice or never).
            s.trigger = TriggerConfig("frame")
            s.events.append(
                Event(
                    "info",
                    f"the camera's trigger ({camera_trigger}) is the part trigger: "
                    "one triggered frame is one part",
                    "pipeline",
                    wall_iso(),
                )
            )
        s.line = LineState(budget, s.trigger.describe())
        if s.annotate_to is not None:
            from edgeconsole.session.annotate import FrameAnnotator

            s.annotator = FrameAnnotator(s.annotate_to, self._parts.result, lossless=lossless)
        from edgeconsole.inference.line import PartLine

        line = PartLine(inspector, s.trigger, budget_ms=budget)
        line.on_unmatched = self._parts.on_unmatched
        s.status.mode = "parts"
        s.status.trigger = s.trigger.describe()
        runner = LineRunner(
            source,
            line,
            self._outputs.sink(gen, "local://"),
            max_frames=max_frames,
            lossless=lossless,
            capture_priority=lower_thread_priority if self._settings.interactive else None,
            rt_priority=rt_priority_wanted(),
        )
        # Filled in by the threads as they start; the summary reports it.
        s.line.scheduling = runner.scheduling
        return runner

    def open_stream(self, gen: int, spec: str) -> None:
        """A gateway camera's stream (``gateway://HOST:PORT?camera=N``) as the runner."""
        from edgeconsole.session.gateway_stream import (
            describe_stream,
            open_stream_runner,
            parse_stream_spec,
        )

        s = self._s
        try:
            url, camera = parse_stream_spec(spec)
            runner = open_stream_runner(
                url,
                camera,
                self._targets.token_for(url),
                self._outputs.sink(gen, url),
                loop=self._targets.io,
                cancelled=lambda: gen != s.generation,
            )
            with s.lock:
                if gen != s.generation:  # cancelled or restarted while opening
                    runner.source.close()
                    return
                s.runner = runner
                runner.start()
                s.status.state = "running"
                s.status.source = describe_stream(spec)
            s.event("info", f"watching {s.status.source}", "pipeline")
        except EdgeConsoleError as exc:
            s.fail(gen, str(exc))
        except Exception as exc:  # an unexpected bug: show it, keep the app alive
            s.fail(gen, f"unexpected error while opening the stream: {exc!r}")
            traceback.print_exc()


def _close(recorder: McapRecorderSink | None, source: FrameSource | None) -> None:
    """What an opening that did not become the run had opened."""
    if recorder is not None:
        recorder.stop()
    if source is not None:
        source.close()
