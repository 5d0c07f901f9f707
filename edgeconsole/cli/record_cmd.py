"""``edgeconsole record TARGET [--source SRC --model M] --out FILE.mcap [--seconds N]``.

Headless recording. For ``local://`` the CLI composes the same parts the
session uses (source -> inference engine -> pipeline runner) and hands every
processed frame to the MCAP recorder and the journal; without ``--model`` it
records the source's frames alone.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path
from typing import Any

from edgeconsole.core.errors import ConfigError, EdgeConsoleError
from edgeconsole.core.frames import Frame, InferenceResult, LatencySample


def register(sub: Any) -> None:
    p = sub.add_parser(
        "record",
        help="record frames, results, latency and telemetry to an MCAP file",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("target", help="what to record: local:// (the laptop's pipeline)")
    p.add_argument(
        "--source",
        default="synthetic:conveyor?seed=7&fps=30",
        help="frame source for local:// (camera:0, video file, folder, rtsp://, synthetic:...)",
    )
    p.add_argument("--model", default=None, help="model folder or model.json to run (local://)")
    p.add_argument("--out", required=True, type=Path, help="recording to create (FILE.mcap)")
    p.add_argument("--seconds", type=float, default=10.0, help="how long to record (default 10)")
    p.add_argument("--max-frames", type=int, default=None, help="stop after this many frames")
    p.add_argument(
        "--journal", type=Path, default=None, help="journal directory (default: app data)"
    )
    p.add_argument("--no-journal", action="store_true", help="do not write the journal")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edgeconsole.session.evidence import Journal, McapRecorderSink, RecordingMeta

    target = str(args.target)
    if not target.startswith("local://"):
        raise ConfigError(
            f"recording from {target} is not available from the command line yet",
            subject=target,
            hint="record local:// here, or use the record button in the window",
        )
    if args.seconds <= 0:
        raise ConfigError("--seconds must be positive")
    out: Path = args.out
    if out.suffix != ".mcap":
        raise ConfigError("recording file must end in .mcap", subject=str(out))
    journal = None if args.no_journal else Journal.open(args.journal)
    site = journal.site() if journal is not None else None
    meta = RecordingMeta(
        site=site.site if site else "",
        technician=site.technician if site else "",
        target=target,
        target_identity="local",
        source=args.source,
        model=str(args.model or ""),
    )
    engine = None
    manifest = None
    if args.model:
        from edgeconsole.inference.engine import InferenceEngine
        from edgeconsole.inference.loader import load_model

        spec = load_model(args.model)
        engine = InferenceEngine.load(spec, threads=None)
        meta.bundle_id = str(getattr(spec, "name", ""))
        meta.bundle_version = str(getattr(spec, "version", ""))
        model_json = (
            Path(args.model) / "model.json" if Path(args.model).is_dir() else Path(args.model)
        )
        if model_json.is_file() and model_json.stat().st_size < 1 << 20:
            import hashlib

            manifest = model_json.read_bytes()
            meta.bundle_hash = hashlib.sha256(manifest).hexdigest()
    recorder = McapRecorderSink(out, meta, manifest=manifest)
    recorder.start()
    if journal is not None:
        journal.audit.log(
            "recording", "info", target, f"recording started: {out}", source=args.source
        )
    errors: list[str] = []
    ended = threading.Event()
    frames = [0]

    def on_result(frame: Frame, result: InferenceResult, sample: LatencySample) -> None:
        recorder.on_result(frame, result, sample)
        frames[0] += 1
        if journal is not None:
            journal.telemetry.add_result(target, result)
            journal.telemetry.add_latency(target, sample)

    try:
        _record(args, engine, on_result, recorder, errors, ended, frames)
    finally:
        try:
            stats = recorder.stop()
        finally:
            if journal is not None:
                journal.record_recording(
                    out.resolve(),
                    target,
                    recorder.started_ns,
                    recorder.ended_ns,
                    recorder.stats.frames,
                    recorder.stats.dropped,
                )
                journal.audit.log(
                    "recording",
                    "info",
                    target,
                    f"recording stopped: {out}",
                    frames=recorder.stats.frames,
                    dropped=recorder.stats.dropped,
                )
                journal.close()
            if engine is not None and hasattr(engine, "close"):
                engine.close()
    summary = {
        "out": str(out),
        "frames": stats.frames,
        "dropped": stats.dropped,
        "messages": stats.messages,
        "bytes": stats.bytes,
        "errors": errors,
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"recorded {stats.frames} frames ({stats.dropped} dropped) to {out}, "
            f"{stats.bytes} bytes"
        )
        for e in errors:
            print(f"  error: {e}")
    return 1 if errors else 0


def _record(
    args: argparse.Namespace,
    engine: Any,
    on_result: Any,
    recorder: Any,
    errors: list[str],
    ended: threading.Event,
    frames: list[int],
) -> None:
    from edgeconsole.core.clock import now_ns
    from edgeconsole.sources.factory import open_source

    source = open_source(args.source, realtime=True, loop=True)
    source.open()
    deadline = time.monotonic() + args.seconds
    if engine is None:
        # Frames only: read on this thread, stamp, record.
        try:
            while time.monotonic() < deadline:
                if args.max_frames is not None and frames[0] >= args.max_frames:
                    break
                frame = source.read()
                if frame is None:
                    break
                sample = LatencySample(
                    frame.index,
                    {
                        "capture": (
                            frame.captured_ns - (frame.capture_started_ns or frame.captured_ns)
                        )
                        / 1e6
                    },
                    (now_ns() - (frame.capture_started_ns or frame.captured_ns)) / 1e6,
                )
                recorder.write_frame(frame, None, sample)
                frames[0] += 1
        finally:
            source.close()
        return
    from edgeconsole.session.pipeline import LocalPipelineRunner
    from edgeconsole.session.runner import CallbackSink

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
        max_frames=args.max_frames,
    )
    runner.start()
    try:
        ended.wait(max(0.0, deadline - time.monotonic()))
    finally:
        runner.stop()
        runner.join(10)
