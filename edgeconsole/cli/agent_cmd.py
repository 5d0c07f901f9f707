"""``edgeconsole agent``: the gateway agent, headless.

This module parses the arguments and prints; the agent, its checks and its
composition (``session/agent_ports.py``) are reached through ``session/agent_door.py``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from edgeconsole.core.errors import ConfigError


def register(sub: Any) -> None:
    p = sub.add_parser(
        "agent",
        help="run the gateway agent (headless)",
        description="Serve the Open Inference Protocol v2 and EdgeConsole's "
        "slot, upload and stream endpoints. Binds to 127.0.0.1 unless --host "
        "says otherwise. Every endpoint but /v2/health/live needs the token.",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8470)
    p.add_argument("--data-dir", required=True, type=Path, help="slots, uploads, journal")
    p.add_argument(
        "--token-file", type=Path, help="bearer token (default: DATA/token, created on first start)"
    )
    p.add_argument(
        "--trust-dir",
        "--trust",  # the same name run, bench and validate use
        type=Path,
        help="public keys bundles must be signed with (default: DATA/trust)",
    )
    p.add_argument(
        "--hardware-id",
        default="gateway-x86_64",  # agent.app.DEFAULT_HARDWARE_ID (the sample bundles')
        help="this gateway's hardware id; bundles not built for it are refused "
        "(default: gateway-x86_64)",
    )
    p.add_argument(
        "--camera",
        action="append",
        default=[],
        metavar="SRC",
        help="a frame source to run the model on (repeatable), e.g. synthetic:conveyor",
    )
    p.add_argument(
        "--trial-timeout", type=float, default=60.0, help="seconds the trial health check may take"
    )
    p.add_argument("--mdns", action="store_true", help="advertise _edgeconsole._tcp on mDNS")
    p.add_argument("--name", help="name shown to consoles (default: the host name)")
    p.add_argument(
        "--trigger",
        default="line",
        help="per-part models: what decides a part on the cameras (line, line:x=0.4, "
        "external, periodic:500ms, frame)",
    )
    p.add_argument(
        "--photo-eye",
        metavar="CONVEYOR",
        help="a photo-eye on the cameras' belt (its synthetic:conveyor?...&clock=1 spec): "
        "edges decide parts with --trigger external and go out on the stream",
    )
    p.add_argument(
        "--plc",
        metavar="URL",
        help="answer this line PLC's reject-gate handshake (modbus://HOST:PORT or "
        "opc.tcp://HOST:PORT/PATH) with the per-part decisions of --plc-camera (with "
        "--trigger external the PLC's edge is the part's trigger)",
    )
    p.add_argument("--plc-map", type=Path, metavar="FILE", help="the PLC map file (.toml)")
    p.add_argument(
        "--plc-camera", type=int, default=0, metavar="N", help="the camera that answers (0)"
    )
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from edgeconsole.session import agent_door

    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port must be 0..65535, got {args.port}")
    data: Path = args.data_dir
    data.mkdir(parents=True, exist_ok=True)
    token, token_path = agent_door.token_for(data, args.token_file)
    trust_dir = args.trust_dir or data / "trust"
    if not trust_dir.is_dir():
        raise ConfigError(
            "no trust store",
            subject=str(trust_dir),
            hint="copy the signing public keys there or pass --trust-dir",
        )
    agent_door.check_setup(
        cameras=args.camera,
        trigger=args.trigger,
        photo_eye=args.photo_eye,
        plc=args.plc,
        plc_map=args.plc_map,
        plc_camera=args.plc_camera,
    )

    def ready(server: Any) -> None:
        # The token itself is never printed: only where it is.
        print(
            json.dumps(
                {
                    "event": "listening",
                    "url": server.url,
                    "token_file": str(token_path),
                    "cameras": len(args.camera),
                    "mdns": args.mdns,
                }
            ),
            flush=True,
        )

    agent_door.serve(
        data_dir=data,
        token=token,
        trust_dir=trust_dir,
        host=args.host,
        port=args.port,
        cameras=args.camera,
        hardware_id=args.hardware_id,
        trial_timeout_s=args.trial_timeout,
        mdns=args.mdns,
        trigger=args.trigger,
        photo_eye=args.photo_eye,
        plc=args.plc,
        plc_map=args.plc_map,
        plc_camera=args.plc_camera,
        name=args.name,
        on_ready=ready,
    )
    return 0
