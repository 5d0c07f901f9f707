"""Headless recording of the laptop's pipeline (``edgeconsole record local://``).

The session's parts, composed without a window: source -> inference engine -> pipeline
runner, every processed frame handed to the MCAP recorder and the journal; without a
model the source's frames alone are recorded. A job like the others (``core/jobs.py``):
it reports progress and stops at its next frame once cancelled.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeconsole.core.errors import ConfigError, EdgeConsoleError
from edgeconsole.core.frames import Frame, InferenceResult, LatencySample
from edgeconsole.core.jobs import CancelFn, ProgressFn, never, no_progress
from edgeconsole.journal.journal import Journal
from edgeconsole.journal.recorder import McapRecorderSink, RecordingMeta

DEFAULT_SOURCE = "synthetic:conveyor?seed=7&fps=30"
#: How often a wait for the pipeline's end looks at the cancel flag and the clock.
_POLL_S = 0.1


@dataclass(frozen=True)
class RecordRequest:
    target: str
    out: Path
    source: str | None = None  # None: DEFAULT_SOURCE
    model: str | None = None  # model folder or model.json; None records frames alone
    seconds: float = 10.0
    max_frames: int | None = None
    journal_dir: Path | None = None  # None: the app's journal
    journal: bool = True


@dataclass
class RecordOutcome:
    out: Path
    frames: int
    dropped: int
    messages: int
    bytes: int
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "out": str(self.out),
            "frames": self.frames,
            "dropped": self.dropped,
            "messages": self.messages,
            "bytes": self.bytes,
            "errors": list(self.errors),
        }


class RecordingJob:
    name = "recording"

    def __init__(self, req: RecordRequest) -> None:
        if not req.target.startswith("local://"):
            raise ConfigError(
                f"recording from {req.target} is not available from the command line yet",
                subject=req.target,
                hint="record local:// here, or use the record button in the window",
            )
        if req.seconds <= 0:
            raise ConfigError("--seconds must be positive")
        if req.out.suffix != ".mcap":
            raise ConfigError("recording file must end in .mcap", subject=str(req.out))
        self.req = req
        self.source: str = req.source or DEFAULT_SOURCE

    def run(self, progress: ProgressFn = no_progress, cancel: CancelFn = never) -> RecordOutcome:
        req = self.req
        journal = Journal.open(req.journal_dir) if req.journal else None
        site = journal.site() if journal is not None else None
        meta = RecordingMeta(
            site=site.site if site else "",
            technician=site.technician if site else "",
            target=req.target,
            target_identity="local",
            source=self.source,
            model=str(req.model or ""),
        )
        engine, manifest = None, None
        if req.model:
            engine, manifest = _load_engine(req.model, meta)
        recorder = McapRecorderSink(req.out, meta, manifest=manifest)
        recorder.start()
        if journal is not None:
            journal.audit.log(
                "recording", "info", req.target, f"recording started: {req.out}", source=self.source
            )
        errors: list[str] = []
        frames = [0]

        def on_result(frame: Frame, result: InferenceResult, sample: LatencySample) -> None:
            recorder.on_result(frame, result, sample)
            frames[0] += 1
            if journal is not None:
                journal.telemetry.add_result(req.target, result)
                journal.telemetry.add_latency(req.target, sample)

        try:
            from edgeconsole.sources.factory import open_source

            source = open_source(self.source, realtime=True, loop=True)
            source.open()
            if engine is None:
                self._frames_only(source, recorder, frames, progress, cancel)
            else:
                self._pipeline(
                    source, engine, on_result, recorder, errors, frames, progress, cancel
                )
        finally:
            try:
                stats = recorder.stop()
            finally:
                if journal is not None:
                    _journal_end(journal, req, recorder)
                if engine is not None and hasattr(engine, "close"):
                    engine.close()
        return RecordOutcome(
            req.out, stats.frames, stats.dropped, stats.messages, stats.bytes, errors
        )

    def _frames_only(
        self,
        source: Any,
        recorder: McapRecorderSink,
        frames: list[int],
        progress: ProgressFn,
        cancel: CancelFn,
    ) -> None:
        """Read on this thread, stamp, record."""
        from edgeconsole.core.clock import now_ns

        req = self.req
        start = time.monotonic()
        deadline = start + req.seconds
        try:
            while time.monotonic() < deadline and not cancel():
                if req.max_frames is not None and frames[0] >= req.max_frames:
                    break
                frame = source.read()
                if frame is None:
                    break
                began = frame.capture_started_ns or frame.captured_ns
                sample = LatencySample(
                    frame.index,
                    {"capture": (frame.captured_ns - began) / 1e6},
                    (now_ns() - began) / 1e6,
                )
                recorder.write_frame(frame, None, sample)
                frames[0] += 1
                progress(_fraction(start, req.seconds), f"recording ({frames[0]} frames)")
        finally:
            source.close()

    def _pipeline(
        self,
        source: Any,
        engine: Any,
        on_result: Any,
        recorder: McapRecorderSink,
        errors: list[str],
        frames: list[int],
        progress: ProgressFn,
        cancel: CancelFn,
    ) -> None:
        from edgeconsole.session.pipeline import LocalPipelineRunner
        from edgeconsole.session.runner import CallbackSink

        req = self.req
        start = time.monotonic()
        deadline = start + req.seconds
        ended = threading.Event()

        def on_error(where: str, exc: EdgeConsoleError | Exception) -> None:
            errors.append(str(exc) if isinstance(exc, EdgeConsoleError) else f"{where}: {exc!r}")
            recorder.write_event("error", errors[-1], "pipeline")

        runner = LocalPipelineRunner(
            source,
            engine,
            CallbackSink(
                on_output=lambda out: on_result(out.frame, out.result, out.sample),
                on_error=on_error,
                on_end=lambda reason: ended.set(),
            ),
            max_frames=req.max_frames,
        )
        runner.start()
        try:
            while not cancel():
                left = deadline - time.monotonic()
                if left <= 0 or ended.wait(min(left, _POLL_S)):
                    break
                progress(_fraction(start, req.seconds), f"recording ({frames[0]} frames)")
        finally:
            runner.stop()
            runner.join(10)


def _fraction(start: float, seconds: float) -> float:
    return min(1.0, (time.monotonic() - start) / seconds)


def _load_engine(model: str, meta: RecordingMeta) -> tuple[Any, bytes | None]:
    """The inference engine of ``model``; fills the recording's bundle fields and
    returns the description's bytes (kept in the recording when small)."""
    from edgeconsole.inference.engine import InferenceEngine
    from edgeconsole.inference.loader import load_model

    spec = load_model(model)
    engine = InferenceEngine.load(spec, threads=None)
    meta.bundle_id = str(getattr(spec, "name", ""))
    meta.bundle_version = str(getattr(spec, "version", ""))
    model_json = Path(model) / "model.json" if Path(model).is_dir() else Path(model)
    manifest = None
    if model_json.is_file() and model_json.stat().st_size < 1 << 20:
        manifest = model_json.read_bytes()
        meta.bundle_hash = hashlib.sha256(manifest).hexdigest()
    return engine, manifest


def _journal_end(journal: Journal, req: RecordRequest, recorder: McapRecorderSink) -> None:
    try:
        journal.record_recording(
            req.out.resolve(),
            req.target,
            recorder.started_ns,
            recorder.ended_ns,
            recorder.stats.frames,
            recorder.stats.dropped,
        )
        journal.audit.log(
            "recording",
            "info",
            req.target,
            f"recording stopped: {req.out}",
            frames=recorder.stats.frames,
            dropped=recorder.stats.dropped,
        )
    finally:
        journal.close()
