"""``edgeconsole plc``: watch a QC camera's handshake with the line's PLC (read-only).

``plc watch URL --map FILE`` reads the handshake signals and prints, per part,
trigger -> results-ready and results-ready -> ack, the verdict the PLC saw,
and the counters of missed triggers, late results, missing acks and
mismatches. It never writes to the PLC. ``plc map FILE`` checks a map file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from pathlib import Path
from typing import Any

from edgeconsole.core.errors import ConfigError


def register(sub: Any) -> None:
    p = sub.add_parser("plc", help="watch a QC camera's handshake with the line PLC")
    kinds = p.add_subparsers(dest="plc_cmd", metavar="ACTION")
    w = kinds.add_parser(
        "watch",
        help="read the handshake signals and measure every part (never writes)",
        description="Read the reject-gate handshake signals of a PLC (Modbus TCP or OPC UA) "
        "and measure every part: trigger -> results-ready, results-ready -> ack, the verdict "
        "the PLC saw, missed triggers, late results, missing acks, mismatches. Read-only: "
        "nothing is ever written to the PLC.",
    )
    w.add_argument("url", help="modbus://HOST:PORT or opc.tcp://HOST:PORT[/PATH]")
    w.add_argument("--map", required=True, type=Path, help="the PLC map file (.toml)")
    w.add_argument("--seconds", type=float, default=None, help="stop after S seconds")
    w.add_argument("--poll-ms", type=float, default=None, help="read interval (default: map's)")
    w.add_argument("--json", action="store_true", help="print the summary as JSON")
    w.set_defaults(func=_watch)
    m = kinds.add_parser("map", help="check a PLC map file and show its signals")
    m.add_argument("file", type=Path)
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=_map)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _watch(args: argparse.Namespace) -> int:
    from edgeconsole.devices.plc.link import open_link
    from edgeconsole.devices.plc.plcmap import load_map
    from edgeconsole.devices.plc.watch import PlcWatcher

    if args.seconds is not None and not 0 < args.seconds <= 30 * 86400:
        raise ConfigError("--seconds must be positive (at most 30 days)")
    if args.poll_ms is not None and not 0.5 <= args.poll_ms <= 10_000:
        raise ConfigError("--poll-ms must be 0.5..10000")
    plc_map = load_map(args.map)
    watcher = PlcWatcher(open_link(args.url, plc_map), plc_map, poll_ms=args.poll_ms)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if args.seconds is not None:
            loop.call_later(args.seconds, stop.set)
        await watcher.run(stop, fail_fast=True)

    asyncio.run(main())
    summary = watcher.summary()
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        _print(summary)
    return 0


def _print(s: dict[str, Any]) -> None:
    c = s["counters"]
    t2r, r2a = s["trigger_to_result_ms"], s["result_to_ack_ms"]
    print(f"PLC {s['plc']} (map {s['map']}), resolution {s['resolution_ms']} ms")
    print(f"{'counter':>8}{'trig->result':>14}{'result->ack':>13}  {'PLC':<6}{'camera':<7}late")
    for p in s["parts"][-20:]:
        print(
            f"{p['counter'] if p['counter'] is not None else '-':>8}"
            f"{_ms(p['trigger_to_result_ms']):>14}{_ms(p['result_to_ack_ms']):>13}  "
            f"{p['plc_verdict'] or '-':<6}{p['camera_verdict'] or '-':<7}"
            f"{'LATE' if p['late'] else ''} {p['mismatch']}"
        )
    print(
        f"triggers {c['triggers']}  answered {c['answered']}  missed {c['missed_triggers']}  "
        f"late {c['late_results']}  missing acks {c['missing_acks']}  "
        f"mismatches {c['mismatches']}"
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
    from edgeconsole.devices.plc.plcmap import load_map

    m = load_map(args.file)
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
