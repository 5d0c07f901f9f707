"""``edgeconsole plc``: watch a QC camera's handshake with the line's PLC (read-only).

``plc watch URL --map FILE`` reads the handshake signals and prints, per part,
trigger -> results-ready and results-ready -> ack, the verdict the PLC saw,
and the counters of missed triggers, late results, missing acks and
mismatches. It never writes to the PLC, unless the person arms the test mode
(``--arm ok|ng|alternate``: this console answers the triggers itself).
``--shadow SOURCE --model M`` runs this laptop's per-part line on a camera of the
same line and shows its verdict next to the PLC's. Thin over the session
(session/plc_monitor.py). ``plc map FILE`` checks a map file.
"""

from __future__ import annotations

import argparse
import json
import signal
from pathlib import Path
from typing import Any

from edgeconsole.core.errors import ConfigError

#: The armed test mode's verdicts (session/plc_monitor.py TEST_PATTERNS).
TEST_PATTERNS = ("alternate", "ok", "ng")


def register(sub: Any) -> None:
    p = sub.add_parser("plc", help="watch a QC camera's handshake with the line PLC")
    kinds = p.add_subparsers(dest="plc_cmd", metavar="ACTION")
    w = kinds.add_parser(
        "watch",
        help="read the handshake signals and measure every part (never writes unless --arm)",
        description="Read the reject-gate handshake signals of a PLC (Modbus TCP or OPC UA) "
        "and measure every part: trigger -> results-ready, results-ready -> ack, the verdict "
        "the PLC saw, missed triggers, late results, missing acks, mismatches. Read-only: "
        "nothing is written to the PLC. --shadow runs this laptop's own per-part line on a "
        "camera watching the same line and puts its verdict next to the PLC's. --arm is the "
        "test mode: this console answers the PLC's triggers with test verdicts (it WRITES "
        "to the PLC), to prove the PLC's program and the reject gate without a camera.",
    )
    w.add_argument("url", help="modbus://HOST:PORT or opc.tcp://HOST:PORT[/PATH]")
    w.add_argument("--map", required=True, type=Path, help="the PLC map file (.toml)")
    w.add_argument("--seconds", type=float, default=None, help="stop after S seconds")
    w.add_argument("--poll-ms", type=float, default=None, help="read interval (default: map's)")
    w.add_argument("--json", action="store_true", help="print the summary as JSON")
    w.add_argument(
        "--shadow",
        metavar="SOURCE",
        help="a camera on the same line (a source spec); its per-part verdicts are compared "
        "with the PLC's (needs --model)",
    )
    w.add_argument("--model", help="the per-part model or bundle the shadow run uses")
    w.add_argument("--trust", type=Path, help="trust store for a bundle (default: the app's)")
    w.add_argument(
        "--trigger",
        default=None,
        help="the shadow run's trigger (default: line, the vertical centre line: put it where "
        "the PLC's photo-eye looks)",
    )
    w.add_argument(
        "--arm",
        choices=TEST_PATTERNS,
        default=None,
        help="TEST MODE, writes to the PLC: answer each trigger with OK, NG or alternating",
    )
    w.set_defaults(func=_watch)
    m = kinds.add_parser("map", help="check a PLC map file and show its signals")
    m.add_argument("file", type=Path)
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=_map)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _watch(args: argparse.Namespace) -> int:
    import sys
    import threading

    from edgeconsole.session.api import TriggerConfig
    from edgeconsole.session.evidence import Journal
    from edgeconsole.session.session import Session

    if args.seconds is not None and not 0 < args.seconds <= 30 * 86400:
        raise ConfigError("--seconds must be positive (at most 30 days)")
    if args.poll_ms is not None and not 0.5 <= args.poll_ms <= 10_000:
        raise ConfigError("--poll-ms must be 0.5..10000")
    if args.shadow and not args.model:
        raise ConfigError("--shadow needs --model", hint="give the per-part model or bundle")
    if args.arm and args.shadow:
        raise ConfigError(
            "--arm answers the PLC instead of a camera; --shadow compares a camera with it",
            hint="use one of them",
        )
    trigger = TriggerConfig.parse(args.trigger) if args.trigger else None
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    session = Session(journal=Journal.open(), trust_dir=args.trust)
    try:
        if args.arm:
            print(
                f"TEST MODE ARMED: answering {args.url}'s triggers with {args.arm} verdicts "
                "(this writes to the PLC); Ctrl-C stops",
                file=sys.stderr,
                flush=True,
            )
        role = "test" if args.arm else "watch"
        session.start_plc(
            args.url, args.map, role, test_pattern=args.arm or "alternate", poll_ms=args.poll_ms
        )
        if args.shadow:
            session.start_local(args.shadow, args.model, trigger=trigger)
        done.wait(args.seconds)
        monitor = session.plc
        assert monitor is not None
        monitor.stop()
        summary = monitor.summary()
        if args.shadow:
            summary["shadow"] = {"source": args.shadow, "line": session.line_summary()}
    finally:
        session.close()
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        _print(summary)
    return 0


def _print(s: dict[str, Any]) -> None:
    c = s["counters"]
    t2r, r2a = s["trigger_to_result_ms"], s["result_to_ack_ms"]
    res = f", resolution {s['resolution_ms']} ms" if s.get("resolution_ms") else ""
    print(f"PLC {s['plc']} (map {s['map']}), {s['role']}{res}")
    print(f"{'counter':>8}{'trig->result':>14}{'result->ack':>13}  {'PLC':<6}{'camera':<7}late")
    for p in s["parts"][-20:]:
        print(
            f"{p['counter'] if p['counter'] is not None else '-':>8}"
            f"{_ms(p['trigger_to_result_ms']):>14}{_ms(p['result_to_ack_ms']):>13}  "
            f"{p['plc_verdict'] or '-':<6}{p['camera_verdict'] or '-':<7}"
            f"{'LATE' if p['late'] else ''} {p['outcome']} {p['mismatch']}"
        )
    print(
        f"triggers {c['triggers']}  answered {c['answered']}  missed {c['missed']}  "
        f"late {c['late']}  missing acks {c['missing_acks']}  mismatches {c['mismatches']}"
    )
    print(
        f"trigger->result p50 {_ms(t2r['p50'])} p99 {_ms(t2r['p99'])} max {_ms(t2r['max'])} ms "
        f"(budget {s['budget_ms']} ms); result->ack p50 {_ms(r2a['p50'])} p99 {_ms(r2a['p99'])}"
    )
    if s.get("error"):
        print(f"last link error: {s['error']}")


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def _map(args: argparse.Namespace) -> int:
    from edgeconsole.session.api import load_plc_map

    m = load_plc_map(args.file)
    d = m.describe()
    if args.json:
        print(json.dumps(d, indent=2))
        return 0
    print(
        f"{m.source}: {m.protocol}" + (f", unit id {m.unit_id}" if m.protocol == "modbus" else "")
    )
    for name, where in d["signals"].items():
        direction = "PLC -> camera" if m.signals[name].direction == "input" else "camera -> PLC"
        print(f"  {name:<14}{where:<28}{direction}")
    return 0
