"""The composition root: owns every thread and hands the world to the UI via poll().

The window (and the CLI) never touch threads, sources or models directly: they
call commands (``start_local``, ``stop``, ...) that return at once, and call
``poll()`` at their own rate to get everything new in one batch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeconsole.core.parts import PartDecision, TriggerEvent
from edgeconsole.inference.line import TriggerConfig
from edgeconsole.session.cameras import CameraSetupJob
from edgeconsole.session.demo_names import (  # re-exported: imported from here elsewhere
    DEMO_SCENE,
    DEMO_SOURCE,
    default_demo_model,
    label_inspector_model,
    sample_models_dir,
)
from edgeconsole.session.engine_choice import EngineChoice
from edgeconsole.session.gateway_stream import is_stream_spec
from edgeconsole.session.jobs import JobRunner
from edgeconsole.session.line_access import LineAccess
from edgeconsole.session.opening import OpenRequest, PipelineOpener
from edgeconsole.session.outputs import RunnerOutputs
from edgeconsole.session.plc_control import PlcControl
from edgeconsole.session.poll import UpdateAssembler
from edgeconsole.session.recording import Recording
from edgeconsole.session.run_state import RunSettings, SessionState
from edgeconsole.session.runner import Runner
from edgeconsole.session.targets import TargetManager
from edgeconsole.session.update import Level, PipelineStatus, RunState, Update
from edgeconsole.session.worker.runner import worker_default

if TYPE_CHECKING:  # the recorder pulls in mcap and OpenCV: imported when recording starts
    from edgeconsole.journal.journal import Journal


__all__ = [
    "DEMO_SCENE",
    "DEMO_SOURCE",
    "Session",
    "default_demo_model",
    "label_inspector_model",
    "sample_models_dir",
]


class Session:
    """One person's working session: the local pipeline today, devices and gateways later."""

    def __init__(
        self,
        *,
        stats_window: int = 300,
        journal: Journal | None = None,
        trust_dir: Path | None = None,
        interactive: bool = False,
        worker: bool | None = None,
    ) -> None:
        """``journal``: where audit entries, results, latency and recordings go (None: nowhere;
        the app and the CLI pass ``Journal.open()``, which lives in the app data folder)."""
        #: ``interactive``, ``use_worker``, ``trust_dir`` (session/run_state.py). Worker
        #: None: the setting EDGECONSOLE_WORKER (1/0) decides, else on with a window.
        self._settings = RunSettings(
            interactive, worker_default(interactive) if worker is None else worker, trust_dir
        )
        #: Status, run generation, runner, line and recorder, behind one lock: shared
        #: explicitly with the parts below (session/run_state.py).
        self._s = SessionState(journal, stats_window)
        self._recording = Recording(self._s)
        self._plc = PlcControl(self, self._s)
        self._open_thread: threading.Thread | None = None
        self._stop_threads: list[threading.Thread] = []
        #: Serial devices (and gateways): connect, flash, telemetry; see session/targets.py.
        self.targets = TargetManager(
            journal=journal, trust_dir=trust_dir, recorder=lambda: self._s.recorder
        )
        self.targets.on_trigger = self.external_trigger
        #: The demo's virtual devices (session/demo.py DemoJob), stopped on close.
        self.demo: Any = None
        #: Industrial camera setup (discover, read, set, save, load) on a worker thread;
        #: a camera the pipeline runs is set through the pipeline's own connection.
        self.camera_setup = CameraSetupJob(live=self._live_camera)
        #: Use cases the window and the CLI start (build, bench, export, reports,
        #: discovery): run on this runner's threads, cancelled on close.
        self.jobs = JobRunner()
        #: The per-part line (figures, trigger, external edges), what runners produce,
        #: and the assembly of each poll: session/line_access.py, outputs.py, poll.py.
        self._parts = LineAccess(self._s)
        self._outputs = RunnerOutputs(self._s, self._parts)
        self._updates = UpdateAssembler(
            self._s, self._parts, self.targets, self.camera_setup, self._plc.snapshot
        )
        #: Per-part mode: called with every part decided or counted missed, and with
        #: every external edge that decided no part (session/line_access.py).
        self.decision_taps = self._parts.decision_taps
        self.unmatched_taps = self._parts.unmatched_taps
        #: Opening a pipeline on its thread: where its model runs, which runner
        #: (session/opening.py, session/engine_choice.py).
        self._opener = PipelineOpener(
            self._s,
            self._settings,
            EngineChoice(self._s, self._settings, self.targets, self._outputs, self._parts),
            self._recording,
            self._outputs,
            self._parts,
            self.targets,
            self.set_budget,
        )

    @property
    def journal(self) -> Journal | None:
        """Where audit entries, results and recordings go (None: nowhere, or closed)."""
        return self._s.journal

    @journal.setter
    def journal(self, journal: Journal | None) -> None:
        self._s.journal = journal

    @property
    def interactive(self) -> bool:
        """A window is attached: workers run at lower priority and onnxruntime leaves
        one core to the event loop, so the display stays smooth under full load."""
        return self._settings.interactive

    @interactive.setter
    def interactive(self, interactive: bool) -> None:
        self._settings.interactive = interactive

    @property
    def use_worker(self) -> bool:
        """Capture and inference of the frame pipeline run in a worker process
        (session/worker/): the window's interpreter never waits for them, and a
        crash there is reported and the worker restarted."""
        return self._settings.use_worker

    @use_worker.setter
    def use_worker(self, use_worker: bool) -> None:
        self._settings.use_worker = use_worker

    @property
    def trust_dir(self) -> Path | None:
        """Where bundle signers' public keys are (None: the app's own trust store)."""
        return self._settings.trust_dir

    @trust_dir.setter
    def trust_dir(self, trust_dir: Path | None) -> None:
        self._settings.trust_dir = trust_dir

    @property
    def trigger(self) -> TriggerConfig:
        """Per-part QC: the trigger the next run starts with (and the running line's)."""
        return self._s.trigger

    @trigger.setter
    def trigger(self, trigger: TriggerConfig) -> None:
        self._s.trigger = trigger

    # ----------------------------------------------------------------- commands
    def start_local(
        self,
        source: str,
        model: str | Path,
        *,
        budget_ms: float | None = None,
        threads: int | None = None,
        realtime: bool = True,
        loop: bool = True,
        max_frames: int | None = None,
        record_to: Path | None = None,
        remote: tuple[str, str] | None = None,
        model_budget: bool = True,
        trigger: TriggerConfig | None = None,
        annotate: Path | None = None,
        target: str | None = None,
        token_file: Path | None = None,
    ) -> None:
        """Open ``source`` and ``model`` on a worker thread, then run the pipeline
        (recording from the very first frame when ``record_to`` is given).

        Without ``budget_ms`` the model's own latency budget applies, if it has one;
        ``model_budget=False`` with no ``budget_ms`` means no budget at all.

        ``remote`` = (``oip://HOST:PORT``, model name): infer on that Open Inference
        Protocol server (Triton, KServe, MLServer, an agent) instead of the laptop;
        ``model`` (its description) still preprocesses and decodes here.

        A gateway camera (``gateway://HOST:PORT?camera=N``) is watched instead: its
        own model runs there; its stream feeds the same live outputs.

        A model whose description has a ``per_part`` section runs per part (DESIGN
        section 10): every physical part is decided once when ``trigger`` fires
        (default: the session's ``trigger``, the vertical centre line). With
        ``target`` (``serial://...``, ``gateway://...``; ``token_file`` for a gateway)
        each part's crop is decided by the model on that target
        (``session/target_line.py``)."""
        if trigger is not None:
            self.trigger = trigger
        self._s.annotate_to = annotate
        if is_stream_spec(source):
            self.start_stream(source, budget_ms=budget_ms)
            return
        self.stop()
        if source.startswith(("aravis:", "pylon:")):
            self.camera_setup.release()  # one controller per camera: the pipeline's turn
        gen = self._s.begin(
            PipelineStatus(state="opening", source=source, model=str(model), budget_ms=budget_ms)
        )
        self._updates.camera_stats_at = 0.0
        self._event("info", f"opening {source} with {model}", "pipeline")
        req = OpenRequest(
            source,
            str(model),
            threads,
            realtime,
            loop,
            max_frames,
            record_to,
            remote,
            model_budget,
            target,
            token_file,
        )
        self._start_opening(self._opener.open_and_run, gen, req)

    def start_stream(self, spec: str, *, budget_ms: float | None = None) -> None:
        """Watch a gateway camera's stream (``gateway://HOST:PORT?camera=N``) in the
        live outputs: frames with the gateway's overlays, its stage times plus the
        network. The gateway must be known to ``targets`` (its token)."""
        self.stop()
        gen = self._s.begin(
            PipelineStatus(
                state="opening", source=spec, model="(on the gateway)", budget_ms=budget_ms
            )
        )
        self._event("info", f"opening the stream of {spec}", "pipeline")
        self._start_opening(self._opener.open_stream, gen, spec)

    def _start_opening(self, open_run: Callable[[int, Any], None], gen: int, what: Any) -> None:
        """Open the run ``gen`` on a thread of its own: commands return at once."""
        t = threading.Thread(
            target=open_run, name="edgeconsole-open", daemon=True, args=(gen, what)
        )
        self._open_thread = t
        t.start()

    def cancel(self) -> None:
        """Abandon an opening in progress (its result is discarded) or stop a run."""
        with self._s.lock:
            opening = self._s.status.state == "opening"
        if opening:
            with self._s.lock:
                self._s.generation += 1
                self._s.status.state = "stopped"
            self._event("info", "cancelled", "pipeline")
        else:
            self.stop()

    def stop(self, wait: bool = False) -> None:
        """Stop the pipeline. Returns at once unless ``wait``: the frame in flight finishes
        on a worker, state goes "stopping" then "stopped" (the window never freezes)."""
        with self._s.lock:
            runner = self._s.runner
            self._s.runner = None
            engine = self._s.engine
            self._s.engine = None
            if runner is not None:
                self._s.generation += 1
                self._s.status.state = "stopping"
        if runner is None:
            if engine is not None:
                engine.close()
        else:
            runner.stop()
            t = threading.Thread(
                target=self._finish_stop,
                args=(runner, engine),
                name="edgeconsole-stop",
                daemon=True,
            )
            self._stop_threads.append(t)
            t.start()
        if wait:
            # Also any stop still finishing from before: onnxruntime must not be mid-run
            # when the interpreter exits (it aborts the process).
            for t in list(self._stop_threads):
                t.join()
            self._stop_threads = [t for t in self._stop_threads if t.is_alive()]

    def _finish_stop(self, runner: Runner, engine: Any) -> None:
        runner.join(timeout=30.0)
        counters = runner.line_counters()
        if counters is not None and self._s.line is not None:
            self._s.line.set_counters(counters)
        self._updates.poll_camera(getattr(runner, "source", None))  # the run's final counters
        if engine is not None and hasattr(engine, "close"):
            engine.close()
        with self._s.lock:
            if self._s.runner is None and self._s.status.state == "stopping":
                self._s.status.state = "stopped"
            self._s.status.dropped = runner.dropped
            self._s.status.frames = runner.processed
        self._event("info", "stopped", "pipeline")

    def set_budget(self, ms: float | None) -> None:
        with self._s.lock:
            self._s.frames.stats.budget_ms = ms
            self._s.status.budget_ms = ms
            runner = self._s.runner
            if self._s.line is not None:
                self._s.line.budget_ms = ms
        if runner is not None:
            runner.set_budget(ms)

    def mark_shown(self, frame_index: int, shown_ns: int) -> None:
        """The window painted ``frame_index`` at ``shown_ns``: extends end-to-end to display."""
        with self._s.lock:
            self._s.frames.mark_shown(frame_index, shown_ns)

    def set_display_area(self, width: int, height: int) -> None:
        """The window's live view is ``width`` x ``height`` device pixels: each frame it
        will show is scaled to fit it and laid out as its pixels off the window's thread
        (session/display.py; ``LiveFrame.display``). 0 x 0: no more of that."""
        prep = self._s.frames.prep
        if prep is not None:
            prep.set_area((int(width), int(height)) if width > 0 and height > 0 else None)

    def list_cameras(self) -> list[dict[str, Any]]:
        from edgeconsole.sources.camera import list_cameras

        return list_cameras()

    def close(self) -> None:
        self.jobs.close()
        if self._s.frames.prep is not None:
            self._s.frames.prep.close()
        self.stop_plc()
        self.cancel()
        self.stop(wait=True)
        self.camera_setup.wait(10.0)
        self.camera_setup.release()
        if self.demo is not None:
            self.demo.close()
            self.demo = None
        self.targets.close()
        self.stop_recording()
        if self._s.annotator is not None:
            self._s.annotator.close()
        if self.journal is not None:
            self.journal.close()
            self.journal = None

    # ---------------------------------------------------------------- recording
    def start_recording(
        self, path: str | Path | None = None, *, manifest: bytes | None = None
    ) -> Path:
        """Record every processed frame, result, latency sample and event to MCAP."""
        return self._recording.start(path, manifest=manifest)

    def stop_recording(self) -> Path | None:
        return self._recording.stop()

    @property
    def recording_path(self) -> Path | None:
        return self._recording.path

    # --------------------------------------------------------------------- poll
    def poll(self) -> Update:
        """Everything new since the last call, in one batch (session/poll.py)."""
        return self._updates.poll()

    def _live_camera(self, backend: str, ident: str) -> Any:
        runner = self._s.runner
        return None if runner is None else runner.camera(backend, ident)

    def stats_snapshot(self) -> Any:
        with self._s.lock:
            return self._s.frames.stats.snapshot()

    def set_trigger(self, trigger: TriggerConfig) -> None:
        """Change the trigger (a dragged line, another kind); a running line follows it
        from its next frame. The window remembers it in its settings."""
        self._parts.set_trigger(trigger)

    # ------------------------------------------------------------------ the line PLC
    def start_plc(
        self,
        url: str,
        map_path: str | Path,
        role: str = "watch",
        *,
        test_pattern: str = "alternate",
        poll_ms: float | None = None,
        wait: bool = True,
    ) -> None:
        """Watch the PLC at ``url`` read-only (``watch``), answer its triggers with the
        per-part line (``gate``) or, armed, with test verdicts (``test``); see
        session/plc_monitor.py. ``wait``: connect now and raise what goes wrong;
        otherwise connect on a thread and report a failure as an event."""
        self._plc.start(url, map_path, role, test_pattern=test_pattern, poll_ms=poll_ms, wait=wait)

    def stop_plc(self) -> None:
        self._plc.stop()

    @property
    def plc(self) -> Any:
        """The line PLC watched or answered (session/plc_monitor.py PlcMonitor), or None."""
        return self._plc.monitor

    @property
    def plc_error(self) -> str:
        """Why the last PLC could not start (a connect on a thread: the window shows it)."""
        return self._plc.error

    def record_plc_part(self, plc: str, record: dict[str, Any], target: str = "local://") -> None:
        """A PLC handshake record (session/plc_gate.py; ``target``: the camera that
        answered, ``plc-watch`` for a part only watched): into the journal's
        ``plc_parts`` table and the recording's ``/plc/parts`` channel, stamped at its
        trigger."""
        self._plc.record_part(plc, record, target)

    def record_plc_signal(self, plc: str, signal: str, value: int, t_ns: int) -> None:
        """An edge of a handshake signal (monotonic ``t_ns``), into the recording."""
        self._plc.record_signal(plc, signal, value, t_ns)

    def line_running(self) -> bool:
        """A per-part line runs, has judged a frame, and takes external triggers (any
        thread): what a PLC's ``trigger_ready`` says."""
        return self._parts.running()

    def external_trigger(self, event: TriggerEvent) -> bool:
        """An external edge (a device's photo-eye, a PLC): decided by the running line.
        False when no per-part line runs (the edge is not kept)."""
        return self._parts.external_trigger(event)

    def line_summary(self) -> dict[str, Any] | None:
        """The per-part figures of the current (or last) run; None in frame mode."""
        return self._parts.summary()

    def annotation_summary(self) -> dict[str, Any] | None:
        """``--annotate``: what was written (call after the run stopped)."""
        return self._parts.annotation_summary()

    def line_decisions(self) -> list[PartDecision]:
        return self._parts.decisions()

    def _event(self, level: Level, text: str, kind: str) -> None:
        self._s.event(level, text, kind)

    def wait_for_change(self, timeout: float) -> bool:
        """Block until an event was posted (state changes post one); for headless loops."""
        changed = self._s.changed.wait(timeout)
        self._s.changed.clear()
        return changed

    @property
    def state(self) -> RunState:
        with self._s.lock:
            return self._s.status.state

    def wait_until_finished(self, timeout: float) -> bool:
        """Block until the running pipeline ends (CLI use); False on timeout."""
        with self._s.lock:
            runner = self._s.runner
        if runner is None:
            return True
        return runner.wait_ended(timeout)
