"""Stock Zephyr/MCUmgr devices from the command line: files, statistics, shell.

``edgeconsole fs put|get TARGET REMOTE [LOCAL]`` (and ``fs stat``), ``edgeconsole stats TARGET``,
``edgeconsole shell TARGET -- CMD...``, each with ``--json``. TARGET is a port
path or ``serial:///dev/ttyACM0?baud=115200`` of a device that speaks the
standard MCUmgr groups (no EdgeConsole firmware needed). What is done is
written to the audit journal (``--journal DIR``, default the app's;
``--no-journal`` to skip). The flows live in ``session.stock_actions`` and
``devices.serial``; this module only reads arguments and prints.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from edgeconsole.core.errors import ConfigError


def register(sub: Any) -> None:
    p = sub.add_parser("fs", help="files on a stock MCUmgr device (put/get with resume + hash)")
    kinds = p.add_subparsers(dest="fs_op", metavar="OP")
    put = kinds.add_parser("put", help="write LOCAL (or a bundle's model) to REMOTE")
    put.add_argument("target")
    put.add_argument("remote", help="device path, e.g. /lfs1/model.onnx")
    put.add_argument("local", nargs="?", type=Path, help="the file to send")
    put.add_argument(
        "--bundle",
        type=Path,
        default=None,
        help="send this verified bundle's model instead of LOCAL",
    )
    put.add_argument(
        "--trust", type=Path, default=None, help="bundle trust store (default: the app's)"
    )
    common(put)
    put.set_defaults(func=cmd_put)
    get = kinds.add_parser("get", help="read REMOTE into LOCAL (default: its name, here)")
    get.add_argument("target")
    get.add_argument("remote")
    get.add_argument("local", nargs="?", type=Path)
    common(get)
    get.set_defaults(func=cmd_get)
    stat = kinds.add_parser("stat", help="size and the device's hash of REMOTE")
    stat.add_argument("target")
    stat.add_argument("remote")
    common(stat, journal=False)
    stat.set_defaults(func=cmd_stat)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])

    p = sub.add_parser("stats", help="statistics groups of a stock MCUmgr device")
    p.add_argument("target")
    p.add_argument(
        "--watch", type=float, default=0.0, metavar="S", help="read every second for S seconds"
    )
    common(p, journal=False)
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser(
        "shell",
        help="run a shell command on a stock MCUmgr device",
        usage="edgeconsole shell TARGET [options] -- CMD [ARGS...]",
    )
    p.add_argument("target")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- CMD ARGS...")
    _shell_options(p)
    p.set_defaults(func=cmd_shell)


def _shell_options(p: Any) -> None:
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for it")
    common(p)


def common(p: Any, *, journal: bool = True) -> None:
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p.add_argument("--timeout-s", type=float, default=2.5, help="seconds per SMP exchange")
    if journal:
        p.add_argument("--journal", type=Path, default=None, help="journal folder (default: app's)")
        p.add_argument("--no-journal", action="store_true", help="do not write the journal")


@contextmanager
def stock_session(args: argparse.Namespace, *, audit: bool = True) -> Iterator[Any]:
    """A connected stock device's StockActions (journal-backed unless told not to)."""
    from edgeconsole.session.stock_actions import stock_session as connect

    with connect(
        args.target,
        timeout_s=args.timeout_s,
        journal=getattr(args, "journal", None),
        audit=audit and not getattr(args, "no_journal", True),
    ) as actions:
        yield actions


def progress_bar(quiet: bool) -> Any:
    from edgeconsole.cli.devices_cmd import _Bar

    return _Bar(quiet)


def cmd_put(args: argparse.Namespace) -> int:
    if (args.local is None) == (args.bundle is None):
        raise ConfigError("give the file to send (LOCAL) or --bundle FILE.ecb, not both")
    with stock_session(args) as act:
        bar = progress_bar(args.json)
        if args.bundle is not None:
            placed = act.place_model(args.bundle, args.remote, trust_dir=args.trust, progress=bar)
            out = placed.to_json()
            text = f"{placed.bundle}'s model {placed.model} -> {placed.remote}\n"
            text += f"  before: {placed.before}\n  after:  {placed.after}"
        else:
            result = act.put(args.local, args.remote, progress=bar)
            out = result.to_json()
            text = _transfer_text(result, f"{args.local} -> {args.remote}")
    print(json.dumps(out) if args.json else text)
    return 0


def cmd_get(args: argparse.Namespace) -> int:
    dest = args.local if args.local is not None else Path(Path(args.remote).name or "download")
    if dest.is_dir():
        dest = dest / Path(args.remote).name
    with stock_session(args) as act:
        result = act.get(args.remote, dest, progress=progress_bar(args.json))
    print(json.dumps(result.to_json()) if args.json else _transfer_text(result, f"-> {dest}"))
    return 0


def cmd_stat(args: argparse.Namespace) -> int:
    with stock_session(args, audit=False) as act:
        size, held = act.stat(args.remote)
    if args.json:
        print(
            json.dumps(
                {"remote": args.remote, "size": size, "hash": held.to_json() if held else None}
            )
        )
    else:
        proof = f"{held.kind} {held.value}" if held else "the device cannot hash files"
        print(f"{args.remote}: {size} B, {proof}")
    return 0


def _transfer_text(result: Any, what: str) -> str:
    check = result.device_hash
    proof = f"{check.kind} {check.value[:16]}… matches" if check else "not checked"
    resumed = f", resumed at {result.resumed_from}" if result.resumed_from else ""
    return (
        f"{what}: {result.size} B in {result.seconds:.2f} s "
        f"({result.bytes_per_s / 1024:.1f} KB/s{resumed}); device {proof}"
    )


def cmd_stats(args: argparse.Namespace) -> int:
    if not 0 <= args.watch <= 86400:
        raise ConfigError("--watch must be 0..86400 seconds")
    with stock_session(args, audit=False) as act:
        end = time.monotonic() + args.watch
        while True:
            groups = act.target.stats()
            if args.json:
                print(json.dumps({"groups": groups, "t": round(time.time(), 3)}), flush=True)
            else:
                for name, fields in groups.items():
                    print(f"{name}:")
                    for key, value in fields.items():
                        print(f"  {key:<24}{value:>14}")
                sys.stdout.flush()
            if time.monotonic() + 1.0 > end:
                break
            time.sleep(1.0)  # the CLI's own read cadence, not synchronisation
    return 0


def cmd_shell(args: argparse.Namespace) -> int:
    argv = list(args.command)
    if "--" in argv:
        # Options may sit between TARGET and "--" (argparse hands them over with the
        # command): read them, and everything after "--" is the device's command.
        cut = argv.index("--")
        opts = argparse.ArgumentParser(prog="edgeconsole shell", add_help=False)
        _shell_options(opts)
        opts.parse_args(argv[:cut], namespace=args)
        argv = argv[cut + 1 :]
    if not argv:
        raise ConfigError("no command given", hint="edgeconsole shell TARGET -- kernel version")
    if not 0.1 <= args.timeout <= 3600:
        raise ConfigError("--timeout must be between 0.1 and 3600 seconds")
    with stock_session(args) as act:
        out, ret = act.shell(argv, args.timeout)
    if args.json:
        print(json.dumps({"command": argv, "output": out, "ret": ret}))
    else:
        print(out)
        if ret != 0:
            print(f"(the device's command returned {ret})", file=sys.stderr)
    return 0 if ret == 0 else 1
