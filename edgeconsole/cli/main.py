"""Command-line entry: ``edgeconsole <command>``.

Each command lives in its own module with ``register(subparsers)``, which adds
its parser and sets ``func`` (taking the parsed args, returning an exit code).
Imports stay lazy so ``edgeconsole --version`` starts fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from edgeconsole import __version__
from edgeconsole.core.errors import EdgeConsoleError

#: Modules under edgeconsole.cli that register commands. Add one line per module.
COMMAND_MODULES: tuple[str, ...] = (
    "run_cmd",
    "record_cmd",
    "export_cmd",
    "agent_cmd",
    "stream_cmd",
    "bundle_cmd",
    "bench_cmd",
    "sim_cmd",
    "devices_cmd",
    "validate_cmd",
    "image_cmd",
    "mcumgr_cmd",
    "plc_cmd",
    "cameras_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgeconsole",
        description="EdgeConsole: connect to edge devices, flash model bundles safely, "
        "watch live inference and latency, export evidence. Without a command, opens the app.",
    )
    parser.add_argument("--version", action="version", version=f"edgeconsole {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"edgeconsole.cli.{name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list in (["--version"], ["-V"]):
        # Answer before importing any command module: this must stay instant.
        print(f"edgeconsole {__version__}")
        return 0
    parser = build_parser()
    args = parser.parse_args(args_list)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except EdgeConsoleError as exc:
        print(f"edgeconsole: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("edgeconsole: interrupted", file=sys.stderr)
        return 130
