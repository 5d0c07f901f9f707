"""Storage faults: a disk that fills, a file-size limit, an fsync that fails, kill -9 loops.

- :func:`small_tmpfs` mounts a real tmpfs of a few MB (root only; ``None`` when the
  mount is refused, so the caller skips cleanly): writes past it get the kernel's
  own ``ENOSPC``.
- :func:`run_python` runs a snippet in a fresh interpreter, optionally under
  ``RLIMIT_FSIZE`` (writes past the limit get ``EFBIG``; ``SIGXFSZ`` is ignored so
  the process lives to report it) and/or with ``os.fsync``/``os.fdatasync``
  failing with ``EIO`` from the Nth call (no LD_PRELOAD, no FUSE: the snippet's
  interpreter is patched before it imports anything). The snippet prints one JSON
  line; the result is parsed.
- :func:`kill9_loop` starts a command, lets it run a seeded random time after it
  says it is ready, ``SIGKILL``s it, and calls ``check`` on what it left behind,
  ``trials`` times. The delays come from ``random.Random(seed)``, so a failing
  trial reproduces.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]

_PRELUDE = """
import errno as _errno, os as _os, resource as _resource, signal as _signal
_fsize = {fsize!r}
if _fsize is not None:
    _signal.signal(_signal.SIGXFSZ, _signal.SIG_IGN)  # EFBIG instead of a core dump
    _resource.setrlimit(_resource.RLIMIT_FSIZE, (_fsize, _resource.RLIM_INFINITY))
_fail_from = {fail_fsync_from!r}
if _fail_from is not None:
    _calls = [0]
    def _make(real):
        def failing(fd):
            _calls[0] += 1
            if _calls[0] >= _fail_from:
                raise OSError(_errno.EIO, "Input/output error (injected fsync fault)")
            return real(fd)
        return failing
    _os.fsync = _make(_os.fsync)
    _os.fdatasync = _make(_os.fdatasync)
"""


@contextlib.contextmanager
def small_tmpfs(size: str = "4m") -> Iterator[Path | None]:
    """A real tmpfs of ``size`` (e.g. "4m"); yields None when it cannot be mounted."""
    d = Path(tempfile.mkdtemp(prefix="ec-fault-tmpfs-"))
    mounted = False
    try:
        if os.geteuid() == 0:
            r = subprocess.run(
                ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(d)],
                capture_output=True,
                check=False,
            )
            mounted = r.returncode == 0
        yield d if mounted else None
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(d)], capture_output=True, check=False)
        with contextlib.suppress(OSError):
            d.rmdir()


@dataclass
class PyResult:
    returncode: int
    out: dict[str, Any]
    stdout: str
    stderr: str


def run_python(
    snippet: str,
    *,
    fsize_limit: int | None = None,
    fail_fsync_from: int | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120.0,
) -> PyResult:
    """Run ``snippet`` under the given faults; its last stdout line (JSON) is ``out``."""
    code = _PRELUDE.format(fsize=fsize_limit, fail_fsync_from=fail_fsync_from)
    code += "\n" + textwrap.dedent(snippet)
    r = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        check=False,
    )
    out: dict[str, Any] = {}
    lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
    if lines:
        with contextlib.suppress(ValueError):
            out = json.loads(lines[-1])
    return PyResult(r.returncode, out, r.stdout, r.stderr)


@dataclass
class KillTrial:
    index: int
    delay_s: float
    ok: bool
    detail: str = ""


@dataclass
class KillReport:
    seed: int
    trials: list[KillTrial] = field(default_factory=list)

    @property
    def failures(self) -> list[KillTrial]:
        return [t for t in self.trials if not t.ok]


def kill9_loop(
    cmd: Sequence[str],
    check: Callable[[int], str | None],
    *,
    trials: int,
    seed: int,
    max_delay_s: float,
    ready: str | None = None,
    env: dict[str, str] | None = None,
    ready_timeout_s: float = 60.0,
) -> KillReport:
    """Kill ``cmd`` with SIGKILL ``trials`` times; ``check(i)`` returns None or a problem.

    ``ready``: a substring of a stdout line that says the process is doing its work;
    the seeded delay counts from there (from start when None).
    """
    rng = random.Random(seed)
    report = KillReport(seed)
    for i in range(trials):
        delay = rng.uniform(0.0, max_delay_s)
        proc = subprocess.Popen(
            list(cmd),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=REPO,
            env={**os.environ, **(env or {})},
        )
        try:
            if ready is not None:
                assert proc.stdout is not None
                deadline = time.monotonic() + ready_timeout_s
                while time.monotonic() < deadline:
                    line = proc.stdout.readline()
                    if not line or ready in line:
                        break
            # The delay is the fault's position in the work: seeded, not synchronisation.
            end = time.monotonic() + delay
            while proc.poll() is None and time.monotonic() < end:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(max(0.0, end - time.monotonic()))
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(30)
            if proc.stdout is not None:
                proc.stdout.close()
        problem = check(i)
        report.trials.append(KillTrial(i, round(delay, 3), problem is None, problem or ""))
    return report
