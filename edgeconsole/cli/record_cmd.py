"""``edgeconsole record TARGET [--source SRC --model M] --out FILE.mcap [--seconds N]``.

Headless recording. For ``local://`` the session's recording job composes the
same parts the window uses (source -> inference engine -> pipeline runner) and
hands every processed frame to the MCAP recorder and the journal; without
``--model`` it records the source's frames alone.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


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
        default=None,
        help="frame source for local:// (camera:0, video file, folder, rtsp://, synthetic:...; "
        "default a synthetic conveyor)",
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
    from edgeconsole.session.recording_job import RecordingJob, RecordRequest

    job = RecordingJob(
        RecordRequest(
            target=str(args.target),
            out=args.out,
            source=args.source,
            model=args.model,
            seconds=args.seconds,
            max_frames=args.max_frames,
            journal_dir=args.journal,
            journal=not args.no_journal,
        )
    )
    outcome = job.run()
    if args.json:
        print(json.dumps(outcome.to_json()))
    else:
        print(
            f"recorded {outcome.frames} frames ({outcome.dropped} dropped) to {outcome.out}, "
            f"{outcome.bytes} bytes"
        )
        for e in outcome.errors:
            print(f"  error: {e}")
    return 1 if outcome.errors else 0
