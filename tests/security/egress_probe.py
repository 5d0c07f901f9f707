"""Run in a subprocess by test_no_egress.py: installs an audit hook that records every
socket connect/bind/sendto and name lookup, then runs the demo (as ``edgeconsole
demo --headless`` does) and the demo's three streams (laptop pipeline recording, a
pty serial device, a loopback agent with its stream), and writes what it saw.

    python tests/security/egress_probe.py OUT.json SECONDS
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any

EVENTS: list[dict[str, Any]] = []
_lock = threading.Lock()


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if event in ("socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg"):
        family = getattr(args[0], "family", None)
        with _lock:
            EVENTS.append(
                {
                    "event": event,
                    "family": int(family) if family is not None else -1,
                    "address": repr(args[1])[:200],
                }
            )
    elif event == "socket.getaddrinfo":
        with _lock:
            EVENTS.append({"event": event, "host": repr(args[0])[:200], "port": repr(args[1])})
    elif event == "socket.gethostbyname":
        with _lock:
            EVENTS.append({"event": event, "host": repr(args[0])[:200]})


sys.addaudithook(_hook)

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def main() -> int:
    out, seconds = Path(sys.argv[1]), float(sys.argv[2])
    from edgeconsole.cli.main import main as cli

    rc = cli(["demo", "--headless", "--seconds", str(seconds / 2), "--json"])
    from tests.soak.soak import run_soak

    samples, verdict = run_soak(
        seconds / 2,
        interval_s=max(1.0, seconds / 4),
        warmup_s=0,
        local_fps=10,
        agent_fps=10,
        serial_rate=50,
    )
    print("ready", flush=True)
    with _lock:
        out.write_text(
            json.dumps(
                {
                    "events": EVENTS,
                    "demo_rc": rc,
                    "streams_alive": verdict.streams_alive,
                    "samples": len(samples),
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
