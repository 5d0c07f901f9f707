"""Recording the pipeline to MCAP: start, stop, and the recording's metadata.

The recorder itself (journal/recorder.py) is fed by the runner outputs
(session/outputs.py) and events; this object opens and closes it and says so in the
log, the audit and the journal's list of recordings.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeconsole.core.clock import wall_iso
from edgeconsole.journal.paths import recordings_dir
from edgeconsole.session.run_state import SessionState

if TYPE_CHECKING:  # the recorder pulls in mcap and OpenCV: imported when recording starts
    from edgeconsole.journal.recorder import McapRecorderSink


class Recording:
    """The session's recording to MCAP (one at a time)."""

    def __init__(self, state: SessionState) -> None:
        self._s = state

    @property
    def path(self) -> Path | None:
        rec = self._s.recorder
        return None if rec is None else rec.path

    def start(self, path: str | Path | None = None, *, manifest: bytes | None = None) -> Path:
        """Record every processed frame, result, latency sample and event to MCAP."""
        s = self._s
        if s.recorder is not None:
            return s.recorder.path
        with s.lock:
            model, source = s.status.model, s.status.source
            runtime = dict(s.status.runtime)
        recorder = self.new_recorder(path, manifest, model, source, runtime)
        with s.lock:
            s.recorder = recorder
        self.started(recorder)
        return recorder.path

    def new_recorder(
        self,
        path: str | Path | None,
        manifest: bytes | None,
        model: str,
        source: str,
        runtime: dict[str, Any] | None = None,
    ) -> McapRecorderSink:
        """A started recorder (not yet the session's: the caller installs it)."""
        from edgeconsole.journal.recorder import McapRecorderSink, RecordingMeta

        s = self._s
        if path is None:
            stamp = wall_iso().replace(":", "").replace("-", "")[:15]
            path = recordings_dir() / f"recording-{stamp}.mcap"
        site = s.journal.site() if s.journal is not None else None
        meta = RecordingMeta(
            site=site.site if site else "",
            technician=site.technician if site else "",
            target="local://",
            model=model,
            source=source,
        )
        bundle = s.bundle
        if bundle is not None:
            # The manifest's hash names the bundle exactly: it lists every file's SHA-256.
            meta.bundle_id = bundle.manifest.bundle_id
            meta.bundle_version = str(bundle.manifest.version)
            meta.bundle_hash = hashlib.sha256(bundle.manifest_bytes).hexdigest()
            if manifest is None:
                manifest = bundle.manifest_bytes
        with s.lock:
            budget = s.status.budget_ms
        if budget is not None:
            meta.extra["latency_budget_ms"] = str(budget)
        if runtime:  # which provider and thread count produced the recorded results
            meta.extra["execution_provider"] = str(runtime.get("provider", ""))
            meta.extra["intra_op_threads"] = str(runtime.get("threads", ""))
            meta.extra["onnxruntime"] = str(runtime.get("onnxruntime", ""))
        recorder = McapRecorderSink(Path(path), meta, manifest=manifest)
        recorder.start()  # raises JournalError with the reason (exists, no space, ...)
        return recorder

    def started(self, recorder: McapRecorderSink) -> None:
        self._s.event("info", f"recording to {recorder.path}", "recording")
        self._s.audit("recording", "info", f"recording started: {recorder.path}")

    def stop(self) -> Path | None:
        s = self._s
        with s.lock:
            recorder = s.recorder
            s.recorder = None
        if recorder is None:
            return None
        stats = recorder.stop()
        if s.journal is not None:
            s.journal.record_recording(
                recorder.path,
                "local://",
                recorder.started_ns,
                recorder.ended_ns,
                stats.frames,
                stats.dropped,
            )
        s.event(
            "info",
            f"recording saved: {recorder.path} ({stats.frames} frames, {stats.dropped} dropped)",
            "recording",
        )
        s.audit(
            "recording",
            "info",
            f"recording stopped: {recorder.path}",
            frames=stats.frames,
            dropped=stats.dropped,
        )
        return recorder.path
