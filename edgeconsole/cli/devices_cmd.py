"""Device commands: devices, slots, flash, confirm, rollback, telemetry.

TARGET is ``serial:///dev/ttyACM0?baud=115200``, a port path, or (for slots,
flash, confirm and rollback) ``gateway://HOST:PORT`` with ``--token-file F`` or
the token remembered for that gateway. Flashing is composed here because devices
and bundles are sibling layers: the bundle is verified by ``edgeconsole.bundles``
(signatures, hardware id, version, expiry, payload hashes) and only then are its
bytes handed to the serial or gateway flash job.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from edgeconsole.core.errors import ConfigError, DeviceError


def register(sub: Any) -> None:
    p = sub.add_parser("devices", help="list serial ports (USB VID:PID, serial number)")
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--probe",
        metavar="TARGET",
        action="append",
        default=[],
        help="also connect to TARGET (e.g. a pty path) and identify it",
    )
    p.set_defaults(func=cmd_devices)

    p = sub.add_parser("slots", help="show the bundle slots of a device or gateway")
    p.add_argument("target")
    _token_arg(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_slots)

    p = sub.add_parser("flash", help="upload a verified bundle, trial it, health-check, confirm")
    p.add_argument("target")
    p.add_argument("bundle", type=Path)
    _token_arg(p)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--trial",
        action="store_const",
        dest="mode",
        const="trial",
        help="leave the bundle on trial after a passing health check",
    )
    mode.add_argument(
        "--confirm",
        action="store_const",
        dest="mode",
        const="confirm",
        help="confirm after a passing health check (default)",
    )
    p.add_argument(
        "--trust-dir",
        "--trust",  # the same name run, bench and validate use
        type=Path,
        default=None,
        help="public keys that may sign (default: the app's trust store, <app data>/trust)",
    )
    p.add_argument(
        "--allow-downgrade",
        action="store_true",
        help="flash a bundle whose version is lower than the installed one (refused "
        "otherwise); a gateway records the override in its journal",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_flash, mode="confirm")

    p = sub.add_parser("confirm", help="confirm the bundle on trial (after its health check)")
    p.add_argument("target")
    _token_arg(p)
    p.add_argument(
        "--no-check", action="store_true", help="confirm without running the health check (warned)"
    )
    p.set_defaults(func=cmd_confirm)

    p = sub.add_parser("rollback", help="leave the trial or go back to the previous bundle")
    p.add_argument("target")
    _token_arg(p)
    p.set_defaults(func=cmd_rollback)

    p = sub.add_parser("telemetry", help="read a device's telemetry lines")
    p.add_argument("target")
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--json", action="store_true", help="one JSON summary at the end")
    p.set_defaults(func=cmd_telemetry)


def _token_arg(p: Any) -> None:
    p.add_argument(
        "--token-file",
        type=Path,
        default=None,
        help="gateway:// targets: the agent's bearer token (default: the token "
        "remembered for that gateway)",
    )


def _open_any(args: argparse.Namespace) -> Any:
    """A connected serial or gateway target for ``args.target``."""
    from edgeconsole.session.device_ops import open_slots_target

    return open_slots_target(args.target, args.token_file)


def _open(target: str, probe: bool = True, timeout_s: float = 2.5) -> Any:
    from edgeconsole.session.device_ops import open_serial

    return open_serial(target, probe=probe, timeout_s=timeout_s)


def _print_slots(slots: list[Any]) -> None:
    print(f"{'slot':<5}{'state':<11}{'run':<5}{'bundle':<28}{'ver':>5}  sha256")
    for s in slots:
        mark = "*" if s.running else ("c" if s.confirmed else "")
        name = s.bundle_id or "-"
        sha = s.sha256[:16] if s.sha256 else "-"
        state = f"{s.state}({s.attempts})" if s.state == "trial" else s.state
        print(f"{s.index:<5}{state:<11}{mark:<5}{name:<28}{s.version:>5}  {sha}")


def cmd_devices(args: argparse.Namespace) -> int:
    from edgeconsole.session.device_ops import serial_ports

    ports = serial_ports()
    probed = []
    for target in args.probe:
        t = _open(target)
        try:
            probed.append(t.info().to_json())
        finally:
            t.close()
    if args.json:
        print(json.dumps({"ports": ports, "probed": probed}, indent=1))
        return 0
    if not ports and not probed:
        print("no serial ports found (a virtual device: `edgeconsole sim serial`)")
    for p in ports:
        usb = f"  usb {p['usb_id']} sn {p['serial_number'] or '-'}" if p["usb_id"] else ""
        print(f"{p['device']:<24}{p['description']}{usb}")
    for info in probed:
        print(f"{info['url']:<24} {info['name']} fw {info['firmware']} hw {info['hw_id']}")
    return 0


def cmd_slots(args: argparse.Namespace) -> int:
    t = _open_any(args)
    try:
        info, slots = t.info(), t.slots()
    finally:
        t.close()
    if args.json:
        print(json.dumps({"device": info.to_json(), "slots": [s.to_json() for s in slots]}))
    else:
        print(f"{info.name} ({info.serial}) fw {info.firmware} hw {info.hw_id}")
        _print_slots(slots)
    return 0


def verified_payload(
    bundle: Path, trust_dir: Path | None, hardware_id: str, installed: int | None
) -> Any:
    """Verify the bundle through the session's one door to bundle bytes
    (``workshop.access.open_verified``); return the exact bytes that were checked."""
    from edgeconsole.session.targets import verified_payload as session_verified_payload

    return session_verified_payload(
        bundle, trust_dir, hardware_id=hardware_id, installed_version=installed
    )


class _Bar:
    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet or not sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, p: Any) -> None:
        now = time.monotonic()
        if p.phase != "upload":
            print(f"  {p.phase}...", file=sys.stderr, flush=True)
            return
        if self.quiet or (now - self.last < 0.2 and p.sent < p.total):
            return
        self.last = now
        width = 30
        done = int(width * p.fraction)
        eta = f"{p.eta_s:5.1f}s" if p.eta_s is not None else "  ?  "
        print(
            f"\r  [{'#' * done}{'.' * (width - done)}] {p.fraction * 100:5.1f}% "
            f"{p.bytes_per_s / 1024:7.1f} KB/s ETA {eta} resumes {p.resumes}",
            end="",
            file=sys.stderr,
            flush=True,
        )
        if p.sent >= p.total:
            print(file=sys.stderr)


def cmd_flash(args: argparse.Namespace) -> int:
    if not args.bundle.is_file():
        raise ConfigError("no such bundle file", subject=str(args.bundle))
    t = _open_any(args)
    try:
        info = t.info()
        running = next((s for s in t.slots() if s.running), None)
        installed = running.version if running else None
        payload = verified_payload(
            args.bundle, args.trust_dir, info.hw_id, None if args.allow_downgrade else installed
        )
        if args.allow_downgrade:
            payload = dataclasses.replace(payload, allow_downgrade=True)
            if installed is not None and payload.version < installed:
                print(
                    f"warning: downgrading from v{installed} to v{payload.version} "
                    "(--allow-downgrade)",
                    file=sys.stderr,
                )
        print(
            f"flashing {payload.bundle_id} v{payload.version} ({len(payload.data)} B) "
            f"to {info.name} {info.serial}",
            file=sys.stderr,
        )
        result = t.flash_job(payload, mode=args.mode, progress=_Bar(args.json)).run()
    finally:
        t.close()
    test = result.self_test
    if args.json:
        print(
            json.dumps(
                {
                    "slot": result.slot,
                    "confirmed": result.confirmed,
                    "self_test": test.__dict__ if test else None,
                    "seconds": round(result.seconds, 3),
                    "bytes_per_s": round(result.bytes_per_s, 1),
                    "resumes": result.resumes,
                    "notes": list(result.notes),
                    "slots": [s.to_json() for s in result.slots],
                }
            )
        )
    else:
        for note in result.notes:
            print(f"note: {note}", file=sys.stderr)
        state = "confirmed" if result.confirmed else "on trial (run `edgeconsole confirm`)"
        print(f"slot {result.slot}: health check passed ({test.detail if test else '-'}); {state}")
        _print_slots(result.slots)
    return 0


def cmd_confirm(args: argparse.Namespace) -> int:
    t = _open_any(args)
    try:
        slots = t.slots()
        trial = next((s for s in slots if s.state == "trial"), None)
        if trial is None:
            print("nothing on trial: the running bundle is already confirmed", file=sys.stderr)
            _print_slots(slots)
            return 0
        if args.no_check:
            print(
                f"warning: confirming slot {trial.index} ({trial.bundle_id}) WITHOUT a health "
                "check; if it misbehaves, `edgeconsole rollback` returns to the previous bundle",
                file=sys.stderr,
            )
        else:
            test = t.self_test(trial.index)
            if not test.passed:
                raise DeviceError(
                    f"health check failed: {test.detail}"
                    + ("; the device rolled back" if test.rolled_back else ""),
                    subject=t.url,
                    hint="not confirmed; run `edgeconsole rollback` if still on trial",
                )
            print(f"health check passed: {test.detail}", file=sys.stderr)
        _print_slots(t.confirm(trial.index))
    finally:
        t.close()
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    t = _open_any(args)
    try:
        _print_slots(t.rollback())
    finally:
        t.close()
    return 0


def cmd_telemetry(args: argparse.Namespace) -> int:
    from edgeconsole.session.device_ops import TelemetryParser

    if not 0 < args.seconds <= 86400:
        raise ConfigError("--seconds must be between 0 and 86400")
    t = _open(args.target, timeout_s=1.0)
    parser = TelemetryParser()
    count = 0
    sums: list[float] = []
    mins: list[float] = []
    maxs: list[float] = []
    logs: list[str] = []
    t0 = time.monotonic()
    try:
        if not args.json:
            kind = "SMP device" if t.smp else "plain serial device"
            print(f"# {t.info().name} ({kind})", file=sys.stderr)
        while time.monotonic() - t0 < args.seconds:
            if not t.transport.connected:
                print("# disconnected; waiting for the device", file=sys.stderr)
                t.reconnect(max(1.0, args.seconds - (time.monotonic() - t0)))
            chunks = t.text.drain()
            if not chunks:
                time.sleep(0.02)  # the CLI's poll tick (DESIGN: the CLI runs a poll loop)
                continue
            for stamp, data in chunks:
                out = parser.feed(data, stamp)
                logs.extend(out.logs)
                if out.header_changed and not args.json:
                    print("# " + ",".join(parser.channels))
                for s in out.samples:
                    count += 1
                    if len(sums) < len(s.values):
                        extra = len(s.values) - len(sums)
                        sums += [0.0] * extra
                        mins += [math.inf] * extra
                        maxs += [-math.inf] * extra
                    for i, v in enumerate(s.values):
                        if v == v:
                            sums[i] += v
                            mins[i] = min(mins[i], v)
                            maxs[i] = max(maxs[i], v)
                    if not args.json:
                        print(",".join(f"{v:g}" for v in s.values))
                if not args.json:
                    for line in out.logs:
                        print(f"# log: {line}", file=sys.stderr)
    finally:
        t.close()
    elapsed = time.monotonic() - t0
    if args.json:
        names = parser.channel_names(len(sums))
        st = parser.stats
        print(
            json.dumps(
                {
                    "device": t.url,
                    "smp": t.smp,
                    "seconds": round(elapsed, 3),
                    "samples": count,
                    "rate_hz": round(count / elapsed, 2) if elapsed else 0.0,
                    "channels": {
                        n: {
                            "min": mins[i] if math.isfinite(mins[i]) else None,
                            "max": maxs[i] if math.isfinite(maxs[i]) else None,
                            "mean": sums[i] / count if count else None,
                        }
                        for i, n in enumerate(names)
                    },
                    "malformed": st.malformed,
                    "oversized": st.oversized,
                    "dropped_lines": st.malformed + st.oversized,
                    "log": logs[-20:],
                    "disconnects": len(t.disconnects),
                }
            )
        )
    return 0
