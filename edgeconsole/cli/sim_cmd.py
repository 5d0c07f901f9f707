"""``edgeconsole sim serial``: run the virtual serial device until interrupted.

The first line on stdout is the device's port path (a stable symlink to its
pty), so scripts can ``read`` it and connect. Faults can be injected for
testing a console against a hostile link.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any


def _default_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "edgeconsole" / "sim-serial"


def register(sub: Any) -> None:
    p = sub.add_parser("sim", help="run simulated devices (virtual serial device)")
    kinds = p.add_subparsers(dest="sim_kind", metavar="KIND")
    s = kinds.add_parser("serial", help="a virtual MCU-class SMP device on a pseudo-terminal")
    s.add_argument("--data-dir", type=Path, default=None, help="where slot state is kept")
    s.add_argument("--baud", type=int, default=None, help="pace bytes to this line rate")
    s.add_argument("--buf-size", type=int, default=2048, help="SMP buffer size (bytes)")
    s.add_argument("--rate", type=float, default=50.0, help="telemetry lines per second (0=off)")
    s.add_argument("--seed", type=int, default=0, help="seed of the synthetic sensor")
    s.add_argument(
        "--cut-at",
        type=int,
        action="append",
        default=[],
        metavar="BYTE",
        help="drop the link when request byte N arrives (repeatable)",
    )
    s.add_argument(
        "--reboot-at",
        type=int,
        action="append",
        default=[],
        metavar="BYTE",
        help="reboot when request byte N arrives (repeatable)",
    )
    s.add_argument(
        "--flip",
        type=int,
        default=0,
        metavar="N",
        help="flip one bit in N random request bytes of the first MB",
    )
    s.add_argument(
        "--power-loss-at",
        type=int,
        default=None,
        metavar="N",
        help="lose power during the Nth persistent write",
    )
    s.add_argument("--fail-selftest", action="store_true", help="health check always fails")
    s.set_defaults(func=run_serial)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def run_serial(args: argparse.Namespace) -> int:
    from edgeconsole.core.errors import ConfigError
    from edgeconsole.sim.device import FaultPlan, VirtualSerialDevice
    from edgeconsole.sim.storage import PowerRail

    if args.baud is not None and not 300 <= args.baud <= 20_000_000:
        raise ConfigError(f"--baud {args.baud} is out of range", hint="e.g. 115200 or 921600")
    if not 64 <= args.buf_size <= 65535:
        raise ConfigError(f"--buf-size {args.buf_size} is out of range", hint="64..65535")
    if not 0 <= args.rate <= 5000:
        raise ConfigError(f"--rate {args.rate} is out of range", hint="0..5000 lines/s")
    plan = FaultPlan(
        cut_at_rx=sorted(args.cut_at),
        reboot_at_rx=sorted(args.reboot_at),
        flip_rx=FaultPlan.random_flips(args.flip, 0, 1 << 20, args.seed) if args.flip else set(),
        power=PowerRail(fail_at=args.power_loss_at),
        seed=args.seed,
    )
    device = VirtualSerialDevice(
        args.data_dir or _default_dir(),
        baud=args.baud,
        buf_size=args.buf_size,
        rate=args.rate,
        faults=plan,
        seed=args.seed,
    )
    device.selftest_fail = args.fail_selftest
    path = device.start()
    print(path, flush=True)
    table = device.storage.table
    print(
        f"virtual device: {os.path.realpath(path)}, baud {args.baud or 'unpaced'}, "
        f"buf {args.buf_size}, running slot {table.running}; Ctrl-C stops",
        file=sys.stderr,
        flush=True,
    )
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    try:
        done.wait()
    finally:
        device.stop()
    return 0
