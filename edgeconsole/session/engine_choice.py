"""Where a run's model is loaded and runs: in this process, the inference worker, or a
remote Open Inference Protocol server; with how many threads, at what priority.

Called on the opening thread (session/opening.py), never on the window's.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from edgeconsole.core.sched import lower_thread_priority
from edgeconsole.session.line_access import LineAccess
from edgeconsole.session.outputs import RunnerOutputs
from edgeconsole.session.run_state import RunSettings, SessionState
from edgeconsole.session.targets import TargetManager
from edgeconsole.session.worker.job import WorkerJob
from edgeconsole.session.worker.runner import WorkerPipelineRunner, worker_priority


class EngineChoice:
    """The engine (or worker, or remote runner) for the model a run opens."""

    def __init__(
        self,
        state: SessionState,
        settings: RunSettings,
        targets: TargetManager,
        outputs: RunnerOutputs,
        parts: LineAccess,
    ) -> None:
        self._s = state
        self._settings = settings
        self._targets = targets
        self._outputs = outputs
        self._parts = parts

    def threads_for(self, spec: Any, threads: int | None) -> int | None:
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
        if self._settings.interactive:
            lower_thread_priority()
            if threads is None:
                threads = max(1, (os.cpu_count() or 2) - 1)
        return threads

    def describe(self, model: str) -> tuple[Any, dict[str, bytes] | None]:
        """The model's description, and a bundle's verified files (None: a model folder)."""
        from edgeconsole.inference.loader import load_model
        from edgeconsole.workshop.access import is_bundle, open_verified

        if is_bundle(model):
            # Verified in memory; the engine gets the checked bytes, never the path.
            bundle = open_verified(Path(model), self._settings.trust_dir, mode="memory")
            self._s.bundle = bundle
            self._s.audit(
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

    def local_engine(self, spec: Any, files: dict[str, bytes] | None, threads: int | None) -> Any:
        from edgeconsole.inference.engine import InferenceEngine

        threads = self.threads_for(spec, threads)
        return InferenceEngine.load(spec, threads=threads, model_bytes=files)

    def runs_in_worker(self, source_spec: str) -> bool:
        """The pipeline (frames or per-part line) moves to the worker; an industrial
        camera (its setup goes through the pipeline's own connection) and ``--annotate``
        (it needs every judged frame's pixels) stay in this process."""
        return (
            self._settings.use_worker
            and self._s.annotate_to is None
            and not source_spec.startswith(("aravis:", "pylon:"))
        )

    def worker_runner(
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
        interactive = self._settings.interactive
        parts = getattr(spec, "per_part", None) is not None
        if threads is None:
            if parts:
                threads = 1
            elif interactive:
                threads = max(1, (os.cpu_count() or 2) - 1)  # one core stays for the window
        job = WorkerJob(
            source=source_spec,
            spec=spec,
            model_bytes=files,
            threads=threads,
            realtime=realtime,
            loop=loop,
            max_frames=max_frames,
            lossless=not realtime and is_offline(source_spec),
            priority=worker_priority(interactive and not parts),
            trigger=self._s.trigger,
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

    def remote(self, model: str, remote: tuple[str, str]) -> tuple[Any, Any]:
        """The model's description from the laptop, its inference on an OIP server."""
        from edgeconsole.devices.gateway.oip import OipClient
        from edgeconsole.devices.ref import TargetRef
        from edgeconsole.inference.loader import load_model
        from edgeconsole.session.gateway_stream import RemoteOipRunner
        from edgeconsole.workshop.access import is_bundle, open_verified

        if is_bundle(model):
            trust_dir = self._settings.trust_dir
            spec = open_verified(Path(model), trust_dir, mode="verify").description
        else:
            spec = load_model(model)
        server = TargetRef.parse(remote[0])
        client = OipClient(
            server.http_base,
            self._targets.token_for(server.url),
            timeout_s=10.0,
            loop=self._targets.io,
        )
        runner = RemoteOipRunner(spec, client, remote[1])
        try:
            runner.check()
        except BaseException:
            client.close()
            raise
        return spec, runner


def is_offline(source_spec: str) -> bool:
    """Sources that can wait for the model: files, folders, the synthetic scene."""
    lowered = source_spec.lower()
    return (
        not lowered.startswith(("camera:", "rtsp://", "rtsps://", "http://", "https://"))
        and not lowered.isdigit()
    )
