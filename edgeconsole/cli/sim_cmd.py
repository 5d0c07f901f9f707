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
    p = sub.add_parser("sim", help="run simulated devices (virtual serial device, virtual PLC)")
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
    s.add_argument(
        "--photo-eye",
        metavar="CONVEYOR",
        help="a photo-eye input on the belt the camera films (its synthetic:conveyor?...&clock=1 "
        "spec): prints @trigger,<n>,<t_us> as each part's centre passes",
    )
    s.add_argument(
        "--eye-x",
        type=float,
        default=0.5,
        help="where the eye looks, as a fraction of the frame's width (default 0.5)",
    )
    stock = s.add_argument_group(
        "stock device (--stock)",
        "a stock Zephyr smp_svr with MCUboot: standard MCUmgr groups only, no EdgeConsole group",
    )
    stock.add_argument(
        "--stock", action="store_true", help="serve only the standard groups (os, img, fs, ...)"
    )
    stock.add_argument(
        "--mode", choices=("swap", "overwrite"), default="swap", help="MCUboot upgrade mode"
    )
    stock.add_argument("--slot-size", type=int, default=1024 * 1024, help="image slot bytes")
    stock.add_argument(
        "--key",
        type=Path,
        default=None,
        help="MCUboot key PEM (default: made on first start in DATA/keys/)",
    )
    stock.add_argument(
        "--unsigned", action="store_true", help="MCUboot checks hashes only (no signatures)"
    )
    stock.add_argument("--factory", type=Path, default=None, help="factory image (signed)")
    stock.add_argument(
        "--no-downgrade", action="store_true", help="MCUboot refuses lower versions at boot"
    )
    stock.add_argument("--vid", default=None, help="vendor id MCUboot requires (as imgtool --vid)")
    stock.add_argument("--cid", default=None, help="image class id MCUboot requires (as --cid)")
    stock.add_argument(
        "--groups",
        default="os,img,stat,fs,shell,enum",
        help="MCUmgr groups the firmware has (comma-separated)",
    )
    stock.add_argument(
        "--log-every", type=float, default=0.0, metavar="S", help="print a log line every S s"
    )
    s.set_defaults(func=run_serial)
    _register_plc(kinds)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _register_plc(kinds: Any) -> None:
    q = kinds.add_parser(
        "plc",
        help="a virtual line PLC (Modbus TCP or OPC UA) that triggers on the simulated belt",
        description="Run a Modbus TCP PLC (pymodbus's own server) laid out from a PLC map, or "
        "an OPC UA one (asyncua's own server) for an OPC UA map (--opcua: the sample). "
        "It raises the trigger once per part of the simulated conveyor belt passing the "
        "camera, waits for results-ready, acknowledges, and prints a JSON summary when "
        "stopped (Ctrl-C) or after --parts parts. The first stdout line is its address.",
    )
    q.add_argument("--map", type=Path, default=None, help="PLC map (default: the sample map)")
    q.add_argument("--opcua", action="store_true", help="serve OPC UA with the sample OPC UA map")
    q.add_argument("--host", default="127.0.0.1")
    q.add_argument("--port", type=int, default=5020, help="TCP port (0: any free port)")
    q.add_argument("--ppm", type=float, default=None, help="belt rate, parts per minute")
    q.add_argument("--parts", type=int, default=None, help="stop after N parts have passed")
    q.add_argument(
        "--belt",
        metavar="SPEC",
        default=None,
        help="follow the belt this camera films (its synthetic:conveyor?...&clock=1 spec: "
        "size, rate, spacing and stops from it; implies --clock)",
    )
    q.add_argument(
        "--clock",
        action="store_true",
        help="the belt runs on the machine's monotonic clock, as a camera on "
        "synthetic:conveyor?clock=1 sees it (triggers when its parts cross the centre)",
    )
    q.add_argument("--width", type=int, default=1280, help="camera frame width (belt geometry)")
    q.add_argument("--height", type=int, default=720, help="camera frame height")
    q.add_argument("--late-ack-ms", type=float, default=0.0, help="misbehave: ack this late")
    q.add_argument(
        "--no-ack-every",
        type=int,
        default=0,
        metavar="N",
        help="misbehave: withhold every Nth ack (1: all)",
    )
    q.add_argument(
        "--drop-trigger-every",
        type=int,
        default=0,
        metavar="N",
        help="misbehave: skip the trigger of every Nth part",
    )
    q.add_argument(
        "--unit-id", type=int, default=None, help="misbehave: serve this unit id, not the map's"
    )
    q.add_argument(
        "--missing-outputs",
        action="store_true",
        help="misbehave: lack the camera's output registers",
    )
    q.add_argument(
        "--drop-link-every",
        type=int,
        default=0,
        metavar="N",
        help="misbehave: close every client connection in the middle of every Nth part "
        "(Modbus TCP; the memory is kept)",
    )
    q.add_argument(
        "--drop-link-at",
        choices=("trigger", "result", "both"),
        default="trigger",
        help="where in the part: right after the trigger, when results-ready rises, or alternately",
    )
    q.add_argument(
        "--realtime",
        action="store_true",
        help="run the PLC's thread under SCHED_FIFO where permitted (a real PLC is a "
        "real-time controller: benchmarks on a busy machine)",
    )
    q.add_argument("--part-log", action="store_true", help="include every part in the summary")
    q.set_defaults(func=run_plc)


def run_plc(args: argparse.Namespace) -> int:
    import json

    from edgeconsole.core.errors import ConfigError
    from edgeconsole.core.sched import settle_heap
    from edgeconsole.session import sim_door

    for name in ("no_ack_every", "drop_trigger_every", "drop_link_every"):
        if getattr(args, name) < 0:
            raise ConfigError(f"--{name.replace('_', '-')} must be 0 or more")
    if args.late_ack_ms < 0 or args.late_ack_ms > 600_000:
        raise ConfigError("--late-ack-ms must be 0..600000")
    if args.unit_id is not None and not 0 <= args.unit_id <= 255:
        raise ConfigError("--unit-id must be 0..255")
    if args.parts is not None and args.parts <= 0:
        raise ConfigError("--parts must be positive")
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port {args.port} is out of range", hint="0..65535")
    if args.opcua and args.map is not None:
        raise ConfigError("give --opcua or --map, not both", hint="an OPC UA map serves OPC UA")
    plc, plc_map = sim_door.virtual_plc(
        map_path=args.map,
        opcua=args.opcua,
        belt_spec=args.belt,
        ppm=args.ppm,
        width=args.width,
        height=args.height,
        host=args.host,
        port=args.port,
        parts=args.parts,
        clock=args.clock,
        late_ack_ms=args.late_ack_ms,
        no_ack_every=args.no_ack_every,
        drop_trigger_every=args.drop_trigger_every,
        unit_id=args.unit_id,
        missing_outputs=args.missing_outputs,
        drop_link_every=args.drop_link_every,
        drop_link_at=args.drop_link_at,
        realtime=args.realtime,
    )
    plc.start()
    frozen = settle_heap()
    print(plc.address, flush=True)
    unit = f", unit {plc.summary()['unit_id']}" if plc_map.protocol == "modbus" else ""
    print(
        f"virtual PLC: {plc.address}{unit}, "
        f"{plc.belt.parts_per_min:.0f} parts/min, map {plc_map.source}; Ctrl-C stops",
        file=sys.stderr,
        flush=True,
    )
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    try:
        while not done.wait(0.2):
            if plc.done.is_set():
                break
    finally:
        plc.stop()
    summary = plc.summary(parts=args.part_log)
    summary["heap_frozen_objects"] = frozen
    if args.realtime:
        summary["scheduling"] = plc.scheduling
    print(json.dumps(summary, indent=2), flush=True)
    return 0


def run_serial(args: argparse.Namespace) -> int:
    from edgeconsole.core.errors import ConfigError
    from edgeconsole.session import sim_door

    if args.baud is not None and not 300 <= args.baud <= 20_000_000:
        raise ConfigError(f"--baud {args.baud} is out of range", hint="e.g. 115200 or 921600")
    if not 64 <= args.buf_size <= 65535:
        raise ConfigError(f"--buf-size {args.buf_size} is out of range", hint="64..65535")
    if not 0 <= args.rate <= 5000:
        raise ConfigError(f"--rate {args.rate} is out of range", hint="0..5000 lines/s")
    plan = sim_door.fault_plan(
        cut_at=args.cut_at,
        reboot_at=args.reboot_at,
        flip=args.flip,
        power_loss_at=args.power_loss_at,
        seed=args.seed,
    )
    if args.stock:
        stock = sim_door.stock_device(
            args.data_dir or _default_dir().with_name("sim-serial-stock"),
            groups=args.groups,
            baud=args.baud,
            buf_size=args.buf_size,
            faults=plan,
            mode=args.mode,
            slot_size=args.slot_size,
            key=args.key,
            unsigned=args.unsigned,
            factory=args.factory,
            no_downgrade=args.no_downgrade,
            vid=args.vid,
            cid=args.cid,
            log_every_s=args.log_every,
        )
        stop = stock.stop
        path = stock.start()
        print(path, flush=True)
        print(_stock_banner(stock, args), file=sys.stderr, flush=True)
    else:
        serial = sim_door.serial_device(
            args.data_dir or _default_dir(),
            baud=args.baud,
            buf_size=args.buf_size,
            rate=args.rate,
            faults=plan,
            seed=args.seed,
            photo_eye=args.photo_eye,
            eye_x=args.eye_x,
            fail_selftest=args.fail_selftest,
        )
        stop = serial.stop
        path = serial.start()
        print(path, flush=True)
        table = serial.storage.table
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
        stop()
    return 0


def _stock_banner(device: Any, args: argparse.Namespace) -> str:
    keys = ", ".join(k.label for k in device.public_keys) or "none (hashes only)"
    trust = f"; trust {device.key_path}" if device.key_path.is_file() else ""
    return (
        f"stock Zephyr/MCUboot device: {os.path.realpath(device.path)}, baud "
        f"{args.baud or 'unpaced'}, buf {args.buf_size}, MCUboot {args.mode}, key {keys}"
        f"{trust}; running {device.running or 'nothing (no bootable image)'}; Ctrl-C stops"
    )
