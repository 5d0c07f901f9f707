"""Run EdgeConsole's commands the way a technician's laptop would, and watch them.

Each command runs under ``strace`` (tests/security/syscalls.py) with a scratch
``HOME``: its own ``XDG_DATA_HOME``/``XDG_CONFIG_HOME``/``XDG_CACHE_HOME``/
``XDG_STATE_HOME`` and ``TMPDIR``, no ``EDGECONSOLE_HOME`` and no
``ORT_DISABLE_TELEMETRY`` (every process must set the latter itself). Afterwards
three witnesses are read:

- the syscall log: any non-loopback address, any DNS query or resolver socket;
- the syscall log again: any file created or opened for writing outside the app's
  data and config folders, the paths the command was given, and the scratch TMPDIR;
- the scratch tree before and after: anything new or changed outside those same
  places (``~/.cache/Microsoft/...`` included), and anything left in TMPDIR.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tests.laptop_env import laptop_env
from tests.security.syscalls import (
    Finding,
    Trace,
    Write,
    egress,
    file_writes,
    parse,
    strace_command,
    writes_outside,
)

REPO = Path(__file__).resolve().parents[2]
STRACE = shutil.which("strace")
#: Environment the person's shell may carry that would hide what we test.
SCRUBBED = ("EDGECONSOLE_HOME", "ORT_DISABLE_TELEMETRY", "XDG_RUNTIME_DIR", "PYTHONPATH")

#: One network namespace per scenario, held open by a ``cat`` waiting on its stdin;
#: every command of the scenario enters it (nsenter), so an agent and its console
#: still meet on loopback. Its loopback also answers to the resolvers of
#: /etc/resolv.conf: a lookup goes through the same syscalls as on a laptop (and
#: strace sees its name), but no packet can leave the machine, even when a test
#: meant to provoke one (test_offline_controls.py) does.
NETNS_HOLDER = """
ip link set lo up || exit 97
for ns in $(awk '/^nameserver/ {print $2}' /etc/resolv.conf 2>/dev/null); do
  case "$ns" in *:*) ip -6 addr add "$ns/128" dev lo ;; *) ip addr add "$ns/32" dev lo ;; esac \\
    2>/dev/null || true  # a loopback resolver (127.0.0.53) is there already
done
echo ready
exec cat >/dev/null
"""


def _tools_for_netns() -> bool:
    return all(shutil.which(t) for t in ("unshare", "nsenter", "ip"))


def start_netns() -> subprocess.Popen[str] | None:
    """The holder of a fresh namespace, or None where unshare/nsenter/ip are missing or
    not permitted (root or CAP_SYS_ADMIN): commands then run in the machine's network,
    watched the same way."""
    if not _tools_for_netns():
        return None
    holder = subprocess.Popen(
        ["unshare", "--net", "sh", "-c", NETNS_HOLDER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    if first_line(holder.stdout, 30) == "ready":
        return holder
    end_netns(holder)
    return None


def end_netns(holder: subprocess.Popen[str]) -> None:
    if holder.stdin is not None:
        holder.stdin.close()  # cat sees end of file and exits
    try:
        holder.wait(10)
    except subprocess.TimeoutExpired:
        holder.kill()
        holder.wait(10)


def edgeconsole(*args: str) -> list[str]:
    """The installed CLI, as a person starts it (python -m edgeconsole = the entry point)."""
    return [sys.executable, "-m", "edgeconsole", *args]


@dataclass
class Scratch:
    """A fresh home for one scenario; ``work/`` holds the paths the person names."""

    root: Path

    def __post_init__(self) -> None:
        for d in (self.home, self.data, self.config, self.cache, self.state, self.tmp):
            d.mkdir(parents=True, exist_ok=True)
        self.work.mkdir(parents=True, exist_ok=True)

    home = property(lambda self: self.root / "home")
    data = property(lambda self: self.home / ".local" / "share")
    config = property(lambda self: self.home / ".config")
    cache = property(lambda self: self.home / ".cache")
    state = property(lambda self: self.home / ".local" / "state")
    tmp = property(lambda self: self.root / "tmp")
    work = property(lambda self: self.root / "work")

    @property
    def app_dirs(self) -> list[Path]:
        """Where EdgeConsole keeps its own files: journal/paths.py, gateway tokens
        (devices/gateway/tokens.py) and the window's QSettings (ui/settings.py)."""
        return [self.data / "edgeconsole", self.config / "edgeconsole", self.config / "EdgeConsole"]

    def env(self, **extra: str) -> dict[str, str]:
        env = laptop_env(drop=SCRUBBED)
        env.update(
            HOME=str(self.home),
            XDG_DATA_HOME=str(self.data),
            XDG_CONFIG_HOME=str(self.config),
            XDG_CACHE_HOME=str(self.cache),
            XDG_STATE_HOME=str(self.state),
            TMPDIR=str(self.tmp),
            QT_QPA_PLATFORM="offscreen",
        )
        env.update(extra)
        return env

    def snapshot(self) -> dict[str, tuple[str, int, int]]:
        out: dict[str, tuple[str, int, int]] = {}
        for dirpath, dirnames, filenames in os.walk(self.root):
            for name in dirnames + filenames:
                p = Path(dirpath) / name
                try:
                    st = p.lstat()
                except FileNotFoundError:
                    continue
                kind = "d" if p.is_dir() and not p.is_symlink() else "f"
                out[str(p)] = (kind, 0 if kind == "d" else st.st_size, st.st_mtime_ns)
        return out


@dataclass
class Verdict:
    egress: list[Finding]
    writes: list[Write]
    tree: list[str]
    commands: list[str]

    @property
    def ok(self) -> bool:
        return not (self.egress or self.writes or self.tree)

    def report(self) -> str:
        lines = [f"{len(self.commands)} processes traced:"]
        lines += [f"  {c[:160]}" for c in self.commands[:20]]
        if self.egress:
            lines.append(f"NETWORK ({len(self.egress)}): non-loopback or name lookups")
            lines += [f"  {f}" for f in _dedupe(self.egress)]
        if self.writes:
            lines.append(f"WRITES OUTSIDE the app's folders and named paths ({len(self.writes)})")
            lines += [f"  {w}" for w in _dedupe(self.writes)]
        if self.tree:
            lines.append(f"UNEXPECTED FILES in the scratch home ({len(self.tree)})")
            lines += [f"  {t}" for t in self.tree[:60]]
        return "\n".join(lines)


def _dedupe(items: Iterable[Any], limit: int = 40) -> list[str]:
    seen: dict[str, None] = {}
    for it in items:
        seen.setdefault(str(it), None)
    out = list(seen)
    return out[:limit] + ([f"... and {len(out) - limit} more"] if len(out) > limit else [])


@dataclass
class Watch:
    """Start commands under strace in one scratch home; judge them all at the end."""

    scratch: Scratch
    logs: Path
    allowed: list[Path] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict)
    _procs: list[tuple[str, subprocess.Popen[str]]] = field(default_factory=list)
    _before: dict[str, tuple[str, int, int]] = field(default_factory=dict)
    _netns: subprocess.Popen[str] | None = None
    _netns_tried: bool = False

    def __post_init__(self) -> None:
        if STRACE is None:
            raise RuntimeError("strace is not installed: ./run setup installs it (Debian strace)")
        self.logs.mkdir(parents=True, exist_ok=True)
        self._before = self.scratch.snapshot()

    def popen(self, name: str, argv: Sequence[str], **kw: Any) -> subprocess.Popen[str]:
        log = self.logs / f"{name}.strace"
        env = kw.pop("env", None) or self.scratch.env(**self.extra_env)
        if self._netns is None and not self._netns_tried:
            self._netns_tried = True
            self._netns = start_netns()
        enter = ["nsenter", f"--net=/proc/{self._netns.pid}/ns/net"] if self._netns else []
        proc = subprocess.Popen(
            [*enter, *strace_command(log), *argv],
            cwd=self.scratch.work,
            env=env,
            text=True,
            stdin=kw.pop("stdin", subprocess.DEVNULL),
            stdout=kw.pop("stdout", subprocess.PIPE),
            stderr=kw.pop("stderr", subprocess.PIPE),
            start_new_session=True,
            **kw,
        )
        self._procs.append((name, proc))
        return proc

    def run(self, name: str, argv: Sequence[str], timeout: float = 180) -> tuple[str, str]:
        rc, out, err = self.run_any(name, argv, timeout)
        if rc != 0:
            raise AssertionError(f"{name} exited {rc}:\n{out[-2000:]}\n{err[-3000:]}")
        return out, err

    def run_any(self, name: str, argv: Sequence[str], timeout: float = 180) -> tuple[int, str, str]:
        """Run to the end whatever its exit code (returned with stdout and stderr)."""
        proc = self.popen(name, argv)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            stop(proc)
            out, err = proc.communicate()
            msg = f"{name} did not finish in {timeout:.0f} s:\n{err[-3000:]}"
            raise AssertionError(msg) from None
        return proc.returncode, out, err

    @property
    def isolated(self) -> bool:
        """Whether the commands ran in their own network namespace."""
        return self._netns is not None

    def close(self) -> None:
        """Stop whatever still runs and leave the namespace (the fixture calls it)."""
        for _name, proc in self._procs:
            stop(proc)
        if self._netns is not None:
            end_netns(self._netns)
            self._netns = None

    def traces(self) -> list[Trace]:
        return [
            parse(p.read_text(errors="replace"), str(self.scratch.work))
            for p in sorted(self.logs.glob("*.strace"))
        ]

    def verdict(self, named: Iterable[Path] = ()) -> Verdict:
        for _name, proc in self._procs:
            if proc.poll() is None:
                stop(proc)
        allowed_tree = [*self.scratch.app_dirs, *named, *self.allowed]
        traces = self.traces()
        found = [f for t in traces for f in egress(t)]
        writes = [w for t in traces for w in file_writes(t)]
        # The scratch TMPDIR may be used while running; what is left there is judged below.
        bad_writes = writes_outside(writes, [*allowed_tree, self.scratch.tmp, self.logs])
        after = self.scratch.snapshot()
        tree = []
        for path, meta in sorted(after.items()):
            if self._before.get(path) == meta or (meta[0] == "d" and path in self._before):
                continue
            p = Path(path)
            if p == self.scratch.work or _under(p, allowed_tree) or _under(p, [self.logs]):
                continue
            if _under(p, [self.scratch.tmp]):
                tree.append(f"left behind in TMPDIR: {path}")
            elif any(_under(Path(a), [p]) for a in allowed_tree) and meta[0] == "d":
                continue  # a parent folder of an allowed place (~/.local/share, say)
            else:
                tree.append(("new: " if path not in self._before else "changed: ") + path)
        return Verdict(found, bad_writes, tree, [c for t in traces for c in t.commands()])


def _under(p: Path, roots: Iterable[Path]) -> bool:
    return any(p == r or r in p.parents for r in (Path(x) for x in roots))


def stop(proc: subprocess.Popen[str], grace: float = 20.0) -> None:
    """SIGTERM the command's whole process group (strace passes it on), then SIGKILL."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def traced_child(proc: subprocess.Popen[str]) -> int | None:
    """The pid of the command strace (``proc``) started, once it has started."""
    try:
        kids = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    except OSError:
        return None
    return int(kids[0]) if kids else None


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def stderr_after_stop(proc: subprocess.Popen[str]) -> str:
    """Stop a server that misbehaved and return the end of what it said."""
    stop(proc)
    return proc.stderr.read()[-3000:] if proc.stderr is not None else ""


def first_line(stream: IO[str] | None, timeout: float) -> str:
    """The first line a server prints (its port), or '' after ``timeout`` seconds."""
    import selectors

    if stream is None:
        return ""
    sel = selectors.DefaultSelector()
    sel.register(stream, selectors.EVENT_READ)
    try:
        if sel.select(timeout):
            return stream.readline().strip()
        return ""
    finally:
        sel.close()
