"""The composition root: owns every thread and hands the world to the UI via poll().

The window (and the CLI) never touch threads, sources or models directly: they
call commands (``start_local``, ``stop``, ...) that return at once, and call
``poll()`` at their own rate to get everything new in one batch.
"""

from __future__ import annotations

import os
import threading
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeconsole.core.clock import wall_iso
from edgeconsole.core.errors import EdgeConsoleError
from edgeconsole.core.parts import PartDecision, TriggerEvent
from edgeconsole.core.sched import wanted as rt_priority_wanted
from edgeconsole.core.source import FrameSource
from edgeconsole.inference.line import TriggerConfig
from edgeconsole.inference.line.state import LineState, warm_up
from edgeconsole.session.cameras import CameraSetupJob
from edgeconsole.session.gateway_stream import is_stream_spec
from edgeconsole.session.jobs import JobRunner
from edgeconsole.session.line_access import LineAccess
from edgeconsole.session.line_runner import LineRunner
from edgeconsole.session.outputs import RunnerOutputs
from edgeconsole.session.pipeline import LocalPipelineRunner
from edgeconsole.session.plc_control import PlcControl
from edgeconsole.session.poll import UpdateAssembler
from edgeconsole.session.recording import Recording
from edgeconsole.session.run_state import SessionState
from edgeconsole.session.runner import Runner
from edgeconsole.session.targets import TargetManager
from edgeconsole.session.update import Event, Level, PipelineStatus, RunState, Update
from edgeconsole.session.worker.job import WorkerJob
from edgeconsole.session.worker.runner import (
    WorkerPipelineRunner,
    worker_default,
    worker_priority,
)

if TYPE_CHECKING:  # the recorder pulls in mcap and OpenCV: imported when recording starts
    from edgeconsole.journal.journal import Journal
    from edgeconsole.journal.recorder import McapRecorderSink


def sample_models_dir() -> Path:
    return Path(__file__).resolve().parent.parent.parent / "sample_models"


def label_inspector_model() -> Path:
    """The full label inspector (text detection + orientation): thorough, ~10x slower."""
    return sample_models_dir() / "label_inspector"


def default_demo_model() -> Path:
    """The fast label-orientation inspector (5 ms budget a part); the label inspector
    stays selectable."""
    fast = sample_models_dir() / "label_orientation"
    return fast if (fast / "model.json").is_file() else label_inspector_model()


#: The demo's conveyor: 120 parts/min on the machine's clock, so the demo device's
#: photo-eye (sim serial --photo-eye) sees the very parts the camera films.
DEMO_SCENE = "synthetic:conveyor?seed=7&fps=30&ppm=120"
DEMO_SOURCE = f"{DEMO_SCENE}&clock=1"


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
        #: A window is attached: workers run at lower priority and onnxruntime leaves
        #: one core to the event loop, so the display stays smooth under full load.
        self.interactive = interactive
        #: Capture and inference of the frame pipeline run in a worker process
        #: (session/worker/): the window's interpreter never waits for them, and a
        #: crash there is reported and the worker restarted. None: the setting
        #: EDGECONSOLE_WORKER (1/0) decides, else on with a window (``interactive``).
        self.use_worker = worker_default(interactive) if worker is None else worker
        #: Where bundle signers' public keys are (None: the app's own trust store).
        self.trust_dir = trust_dir
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

    @property
    def journal(self) -> Journal | None:
        """Where audit entries, results and recordings go (None: nowhere, or closed)."""
        return self._s.journal

    @journal.setter
    def journal(self, journal: Journal | None) -> None:
        self._s.journal = journal

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
        with self._s.lock:
            self._s.generation += 1
            gen = self._s.generation
            self._s.frames.reset(budget_ms)
            self._s.status = PipelineStatus(
                state="opening", source=source, model=str(model), budget_ms=budget_ms
            )
            self._s.line = None
            self._updates.camera_stats_at = 0.0
        self._event("info", f"opening {source} with {model}", "pipeline")
        t = threading.Thread(
            target=self._open_and_run,
            name="edgeconsole-open",
            daemon=True,
            args=(
                gen,
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
            ),
        )
        self._open_thread = t
        t.start()

    def start_stream(self, spec: str, *, budget_ms: float | None = None) -> None:
        """Watch a gateway camera's stream (``gateway://HOST:PORT?camera=N``) in the
        live outputs: frames with the gateway's overlays, its stage times plus the
        network. The gateway must be known to ``targets`` (its token)."""
        self.stop()
        with self._s.lock:
            self._s.generation += 1
            gen = self._s.generation
            self._s.frames.reset(budget_ms)
            self._s.status = PipelineStatus(
                state="opening", source=spec, model="(on the gateway)", budget_ms=budget_ms
            )
            self._s.line = None
        self._event("info", f"opening the stream of {spec}", "pipeline")
        t = threading.Thread(
            target=self._open_stream, name="edgeconsole-open", daemon=True, args=(gen, spec)
        )
        self._open_thread = t
        t.start()

    def _open_stream(self, gen: int, spec: str) -> None:
        from edgeconsole.session.gateway_stream import (
            describe_stream,
            open_stream_runner,
            parse_stream_spec,
        )

        try:
            url, camera = parse_stream_spec(spec)
            runner = open_stream_runner(
                url,
                camera,
                self.targets.token_for(url),
                self._outputs.sink(gen, url),
                loop=self.targets.io,
                cancelled=lambda: gen != self._s.generation,
            )
            with self._s.lock:
                if gen != self._s.generation:  # cancelled or restarted while opening
                    runner.source.close()
                    return
                self._s.runner = runner
                runner.start()
                self._s.status.state = "running"
                self._s.status.source = describe_stream(spec)
            self._event("info", f"watching {self._s.status.source}", "pipeline")
        except EdgeConsoleError as exc:
            self._fail(gen, str(exc))
        except Exception as exc:  # an unexpected bug: show it, keep the app alive
            self._fail(gen, f"unexpected error while opening the stream: {exc!r}")
            traceback.print_exc()

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

    def list_cameras(self) -> list[dict[str, Any]]:
        from edgeconsole.sources.camera import list_cameras

        return list_cameras()

    def close(self) -> None:
        self.jobs.close()
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

    def _audit(self, kind: str, level: str, message: str, **fields: Any) -> None:
        self._s.audit(kind, level, message, **fields)

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

    # ------------------------------------------------------------------ workers
    def _open_and_run(
        self,
        gen: int,
        source_spec: str,
        model: str,
        threads: int | None,
        realtime: bool,
        loop: bool,
        max_frames: int | None,
        record_to: Path | None = None,
        remote: tuple[str, str] | None = None,
        model_budget: bool = True,
        target: str | None = None,
        token_file: Path | None = None,
    ) -> None:
        source: FrameSource | None = None
        engine: Any = None
        recorder: McapRecorderSink | None = None
        try:
            from edgeconsole.sources.factory import describe_spec, open_source

            if target is not None:
                from edgeconsole.session.target_line import open_target_line

                spec, engine = open_target_line(
                    target, model, self.trust_dir, threads=threads, token_file=token_file
                )
            elif remote is not None:
                if self.interactive:
                    _lower_thread_priority()
                spec, engine = self._remote_model(model, remote)
            else:
                spec, files = self._describe_model(model)
                if self._runs_in_worker(spec, source_spec):
                    budget = self._s.status.budget_ms
                    if budget is None and model_budget:
                        budget = spec.latency_budget_ms
                    engine = self._worker_runner(
                        gen, spec, files, source_spec, threads, realtime, loop, max_frames, budget
                    )
                else:
                    engine = self._engine_for(spec, files, threads)
            if isinstance(engine, WorkerPipelineRunner):
                source = engine.source  # the worker opened it
            else:
                from edgeconsole.session.demo_camera import prepare as prepare_demo_camera

                prepare_demo_camera(source_spec)  # the demo conveyor's frames, written once
                source = open_source(source_spec, realtime=realtime, loop=loop)
                source.open()
            if (
                model_budget
                and self._s.status.budget_ms is None
                and spec.latency_budget_ms is not None
            ):
                self.set_budget(spec.latency_budget_ms)
            if record_to is not None:
                recorder = self._recording.new_recorder(
                    record_to,
                    None,
                    f"{spec.name} v{spec.version}",
                    describe_spec(source_spec),
                    # A remote (gateway) engine has no local session: nothing to record.
                    getattr(engine, "runtime", None),
                )
            with self._s.lock:
                if gen != self._s.generation:  # cancelled or restarted while opening
                    raise _Abandoned()
                if recorder is not None:
                    self._s.recorder = recorder
                in_worker = isinstance(engine, WorkerPipelineRunner)
                self._s.engine = None if in_worker else engine
                inspector = getattr(engine, "inspector", None)
                if inspector is not None:
                    self._s.status.first_decision_ms = warm_up(inspector)
                lossless = not realtime and _is_offline(source_spec)
                runner: Runner
                if in_worker:
                    self._s.line = None
                    if engine.per_part:
                        self._s.line = LineState(self._s.status.budget_ms, self.trigger.describe())
                        self._s.status.mode = "parts"
                        self._s.status.trigger = self.trigger.describe()
                        self._s.status.first_decision_ms = engine.first_decision_ms
                    runner = engine
                elif inspector is not None and remote is None:
                    runner = self._line_runner(gen, source, inspector, max_frames, lossless)
                else:
                    self._s.line = None
                    runner = LocalPipelineRunner(
                        source,
                        engine,
                        self._outputs.sink(gen, "local://"),
                        max_frames=max_frames,
                        lossless=lossless,
                    )
                self._s.runner = runner
                runner.start()
                self._s.status.state = "running"
                self._s.status.source = describe_spec(source_spec)
                self._s.status.model = f"{spec.name} v{spec.version}"
                self._s.status.runtime = dict(getattr(engine, "runtime", None) or {})
                if remote is not None:
                    self._s.status.model += f" · infer (remote) {remote[1]} on {remote[0]}"
                if target is not None:
                    self._s.status.model += f" · parts decided on {target}"
            if recorder is not None:
                self._recording.started(recorder)
            self._event(
                "info", f"running {self._s.status.model} on {self._s.status.source}", "pipeline"
            )
        except _Abandoned:
            if recorder is not None:
                recorder.stop()
            if source is not None:
                source.close()
            if engine is not None and hasattr(engine, "close"):
                engine.close()
        except EdgeConsoleError as exc:
            if recorder is not None:
                recorder.stop()
            if source is not None:
                source.close()
            self._fail(gen, str(exc))
        except Exception as exc:  # an unexpected bug: show it, keep the app alive
            if recorder is not None:
                recorder.stop()
            if source is not None:
                source.close()
            self._fail(gen, f"unexpected error while opening: {exc!r}")
            traceback.print_exc()

    def _threads_for(self, spec: Any, threads: int | None) -> int | None:
        """Thread settings for the model about to load, on the opening thread.

        Frame models in the window: this thread (and so onnxruntime's and the
        pipeline's threads, which inherit it) runs at lower priority and onnxruntime
        leaves a core to the event loop. Per-part models: decisions have priority
        over display, so nothing here is lowered (only the capture thread is, later)
        and onnxruntime runs on one thread, in the decision thread itself: a crop
        batch is too small to share and a pool's spinning threads cost the tail.
        """
        if getattr(spec, "per_part", None) is not None:
            return 1 if threads is None else threads
        if self.interactive:
            _lower_thread_priority()
            if threads is None:
                threads = max(1, (os.cpu_count() or 2) - 1)
        return threads

    def _describe_model(self, model: str) -> tuple[Any, dict[str, bytes] | None]:
        """The model's description, and a bundle's verified files (None: a model folder)."""
        from edgeconsole.inference.loader import load_model
        from edgeconsole.workshop.access import is_bundle, open_verified

        if is_bundle(model):
            # Verified in memory; the engine gets the checked bytes, never the path.
            bundle = open_verified(Path(model), self.trust_dir, mode="memory")
            self._s.bundle = bundle
            self._audit(
                "bundle",
                "info",
                f"bundle verified: {model}",
                bundle_id=bundle.manifest.bundle_id,
                version=bundle.manifest.version,
                signers=[s.key_id for s in bundle.signers if s.status == "verified"],
            )
            return bundle.description, bundle.files
        self._s.bundle = None
        return load_model(model), None

    def _engine_for(self, spec: Any, files: dict[str, bytes] | None, threads: int | None) -> Any:
        from edgeconsole.inference.engine import InferenceEngine

        threads = self._threads_for(spec, threads)
        return InferenceEngine.load(spec, threads=threads, model_bytes=files)

    def _runs_in_worker(self, spec: Any, source_spec: str) -> bool:
        """The pipeline (frames or per-part line) moves to the worker; an industrial
        camera (its setup goes through the pipeline's own connection) and ``--annotate``
        (it needs every judged frame's pixels) stay in this process."""
        return (
            self.use_worker
            and self._s.annotate_to is None
            and not source_spec.startswith(("aravis:", "pylon:"))
        )

    def _worker_runner(
        self,
        gen: int,
        spec: Any,
        files: dict[str, bytes] | None,
        source_spec: str,
        threads: int | None,
        realtime: bool,
        loop: bool,
        max_frames: int | None,
        budget_ms: float | None,
    ) -> WorkerPipelineRunner:
        """Start the worker and wait until it opened the source and the model (the
        opening thread, not niced: the worker process itself runs lower).

        A per-part line's worker is not niced (decisions have priority over display,
        issue 12; only its capture thread runs lower) and onnxruntime runs on one
        thread in the decision thread, as in-process."""
        parts = getattr(spec, "per_part", None) is not None
        if threads is None:
            if parts:
                threads = 1
            elif self.interactive:
                threads = max(1, (os.cpu_count() or 2) - 1)  # one core stays for the window
        job = WorkerJob(
            source=source_spec,
            spec=spec,
            model_bytes=files,
            threads=threads,
            realtime=realtime,
            loop=loop,
            max_frames=max_frames,
            lossless=not realtime and _is_offline(source_spec),
            priority=worker_priority(self.interactive and not parts),
            trigger=self.trigger,
            budget_ms=budget_ms,
        )
        runner = WorkerPipelineRunner(
            job,
            self._outputs.sink(gen, "local://"),
            keep_frames=lambda: self._s.recorder is not None,
            on_unmatched=self._parts.on_unmatched,
        )
        try:
            runner.open()
        except BaseException:
            runner.close()
            raise
        return runner

    def _remote_model(self, model: str, remote: tuple[str, str]) -> tuple[Any, Any]:
        """The model's description from the laptop, its inference on an OIP server."""
        from edgeconsole.devices.gateway.oip import OipClient
        from edgeconsole.devices.ref import TargetRef
        from edgeconsole.inference.loader import load_model
        from edgeconsole.session.gateway_stream import RemoteOipRunner
        from edgeconsole.workshop.access import is_bundle, open_verified

        if is_bundle(model):
            spec = open_verified(Path(model), self.trust_dir, mode="verify").description
        else:
            spec = load_model(model)
        server = TargetRef.parse(remote[0])
        client = OipClient(
            server.http_base,
            self.targets.token_for(server.url),
            timeout_s=10.0,
            loop=self.targets.io,
        )
        runner = RemoteOipRunner(spec, client, remote[1])
        try:
            runner.check()
        except BaseException:
            client.close()
            raise
        return spec, runner

    def _fail(self, gen: int, message: str) -> None:
        self._s.fail(gen, message)

    # -------------------------------------------------------------- per-part line
    def _line_runner(
        self,
        gen: int,
        source: FrameSource,
        inspector: Any,
        max_frames: int | None,
        lossless: bool,
    ) -> LineRunner:
        """Called with the lock held, on the opening thread (never niced in this mode)."""
        budget = self._s.status.budget_ms
        camera_trigger = (
            getattr(source, "trigger", None) if hasattr(source, "fire_trigger") else None
        )
        if camera_trigger and self.trigger.kind == "line":
            # A camera in trigger mode takes one frame per part: the camera's trigger is
            # the part trigger (a line in the image would judge a part twice or never).
            self.trigger = TriggerConfig("frame")
            self._s.events.append(
                Event(
                    "info",
                    f"the camera's trigger ({camera_trigger}) is the part trigger: "
                    "one triggered frame is one part",
                    "pipeline",
                    wall_iso(),
                )
            )
        self._s.line = LineState(budget, self.trigger.describe())
        if self._s.annotate_to is not None:
            from edgeconsole.session.annotate import FrameAnnotator

            self._s.annotator = FrameAnnotator(
                self._s.annotate_to, self._parts.result, lossless=lossless
            )
        from edgeconsole.inference.line import PartLine

        line = PartLine(inspector, self.trigger, budget_ms=budget)
        line.on_unmatched = self._parts.on_unmatched
        self._s.status.mode = "parts"
        self._s.status.trigger = self.trigger.describe()
        runner = LineRunner(
            source,
            line,
            self._outputs.sink(gen, "local://"),
            max_frames=max_frames,
            lossless=lossless,
            capture_priority=_lower_thread_priority if self.interactive else None,
            rt_priority=rt_priority_wanted(),
        )
        # Filled in by the threads as they start; the summary reports it.
        self._s.line.scheduling = runner.scheduling
        return runner

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


def _lower_thread_priority(increment: int = 10) -> None:
    """Nice the calling thread (Linux: per thread); threads it starts inherit it."""
    try:
        tid = threading.get_native_id()
        os.setpriority(
            os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + increment)
        )
    except (AttributeError, OSError):
        pass  # not supported here: run at normal priority


def _is_offline(source_spec: str) -> bool:
    """Sources that can wait for the model: files, folders, the synthetic scene."""
    lowered = source_spec.lower()
    return (
        not lowered.startswith(("camera:", "rtsp://", "rtsps://", "http://", "https://"))
        and not lowered.isdigit()
    )


class _Abandoned(Exception):
    pass
