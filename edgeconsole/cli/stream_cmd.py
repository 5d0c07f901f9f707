"""``edgeconsole stream TARGET``: follow a gateway's live stream and summarise it
(``session.stream_watch``: the summary of ``run`` plus the network stage)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser(
        "stream",
        help="watch a gateway's live results and latency",
        description="Connect to a gateway agent's stream (results, stage "
        "latencies, JPEG frames, telemetry) for a while and print the same "
        "summary as `run`, plus the network stage.",
    )
    p.add_argument("target", help="gateway://HOST:PORT")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--camera", type=int, default=0)
    p.add_argument("--token-file", type=Path, help="the agent's token (DATA/token)")
    p.add_argument("--no-frames", action="store_true", help="results only, no JPEG frames")
    p.add_argument("--max-fps", type=float, default=15.0, help="JPEG frame rate cap")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from edgeconsole.cli.run_cmd import _print
    from edgeconsole.session.stream_watch import watch_stream

    summary = watch_stream(
        args.target,
        seconds=args.seconds,
        token_file=args.token_file,
        camera=args.camera,
        frames=not args.no_frames,
        max_fps=args.max_fps,
    )
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        _print(summary, False)
        net = summary["stages"]["network"]
        print(
            f"network      p50 {net['p50']} ms  p99 {net['p99']} ms  "
            f"(reconnects {summary['stream']['reconnects']})"
        )
    return 0
