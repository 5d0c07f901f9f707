"""The stock virtual device's shell (MCUmgr shell_mgmt ``exec``): a few Zephyr commands.

Output is what Zephyr's dummy shell backend would capture; the return code is
the command's (``-8``, -ENOEXEC, for an unknown command, as Zephyr's shell).
``sleep MS`` holds the SMP server for that long, exactly as a slow command
does on a device (nothing else is answered meanwhile): the way tests make a
shell command that never returns.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from edgeconsole.sim.stock_fs import FsFailure, SimFileSystem

ENOEXEC = -8
EINVAL = -22
ENOENT = -2
MAX_SLEEP_MS = 3_600_000


@dataclass
class ShellContext:
    fs: SimFileSystem
    booted_at: float
    version: Callable[[], str]
    board: str
    stop: threading.Event


HELP = """Available commands:
  app      :Running application
  device   :Device commands
  echo     :Print the arguments
  fs       :File system commands (ls, mkdir, rm)
  help     :Prints the help message
  kernel   :Kernel commands (version, uptime)
  sleep    :Wait MS milliseconds"""


def execute(argv: list[str], ctx: ShellContext) -> tuple[str, int]:
    if not argv:
        return "", 0
    cmd, args = argv[0], argv[1:]
    if cmd == "help":
        return HELP, 0
    if cmd == "echo":
        return " ".join(args), 0
    if cmd == "kernel":
        if args == ["version"]:
            return "Zephyr version 3.7.0", 0
        if args == ["uptime"]:
            return f"Uptime: {int((time.monotonic() - ctx.booted_at) * 1000)} ms", 0
        return "kernel - Kernel commands\nSubcommands:\n  uptime\n  version", EINVAL
    if cmd == "device" and args == ["list"]:
        return (
            f"devices:\n- uart@40002000 (READY)\n- flash-controller@4001e000 (READY)\n"
            f"- {ctx.board}-gpio (READY)"
        ), 0
    if cmd == "app":
        return f"{ctx.board}: smp_svr {ctx.version()}", 0
    if cmd == "sleep":
        try:
            ms = int(args[0]) if args else -1
        except ValueError:
            ms = -1
        if not 0 <= ms <= MAX_SLEEP_MS:
            return "usage: sleep MS", EINVAL
        ctx.stop.wait(ms / 1000.0)
        return "", 0
    if cmd == "fs":
        return _fs(args, ctx.fs)
    return f"{cmd}: command not found", ENOEXEC


def _fs(args: list[str], fs: SimFileSystem) -> tuple[str, int]:
    if not args:
        return "fs - File system commands\nSubcommands:\n  ls\n  mkdir\n  rm", EINVAL
    sub, rest = args[0], args[1:]
    name = rest[0] if rest else "/lfs1"
    try:
        if sub == "ls":
            rows = fs.listing(name)
            return "\n".join(f"{size if size is not None else '':>8} {n}" for n, size in rows), 0
        if sub == "mkdir" and rest:
            path = fs.host_path(name)
            if path.exists():
                return f"mkdir {name}: exists", EINVAL
            if not path.parent.is_dir():
                return f"mkdir {name}: no such directory", ENOENT
            path.mkdir()
            return "", 0
        if sub == "rm" and rest:
            path = fs.host_path(name)
            if path.is_dir():
                path.rmdir()
            elif path.is_file():
                path.unlink()
            else:
                return f"rm {name}: no such file", ENOENT
            return "", 0
    except FsFailure as exc:
        return f"fs {sub} {name}: {exc.reason}", ENOENT
    except OSError as exc:
        return f"fs {sub} {name}: {exc.strerror}", EINVAL
    return f"fs {sub}: unknown subcommand", ENOEXEC
