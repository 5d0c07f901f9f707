"""Run a function in a fresh child process with a deadline.

The trial health check loads an untrusted-until-proven model: if onnxruntime
crashes on it, or it spins forever, only the child dies. The parent waits on a
pipe with a timeout, then kills the child if it is still there.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any


def _child(fn: Callable[[str], dict[str, Any]], arg: str, conn: Connection) -> None:
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash leaves no core file
    except (ImportError, ValueError, OSError):
        pass
    try:
        report = fn(arg)
        if not isinstance(report, dict):
            report = {"ok": False, "reason": f"health check returned {type(report).__name__}"}
    except BaseException as exc:  # the child reports everything; the parent decides
        report = {"ok": False, "reason": f"health check raised {type(exc).__name__}: {exc}"}
    try:
        conn.send(report)
    finally:
        conn.close()


def run_isolated(fn: Callable[[str], dict[str, Any]], arg: str, timeout_s: float) -> dict[str, Any]:
    """Return the child's report, or a failing report saying it crashed or hung."""
    ctx = mp.get_context("spawn")  # no inherited threads, locks or onnxruntime state
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(fn, arg, child), name="edgeconsole-health", daemon=True)
    started = time.monotonic()
    proc.start()
    child.close()
    try:
        deadline = started + timeout_s
        report: dict[str, Any] | None = None
        while report is None:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            if parent.poll(min(left, 0.2)):
                try:
                    report = parent.recv()
                except (EOFError, OSError):
                    proc.join(5)  # the pipe closed: the child is dying; let it finish
                    break
            elif not proc.is_alive() and not parent.poll(0):
                break
        elapsed = time.monotonic() - started
        if report is not None:
            proc.join(5)
            report.setdefault("seconds", round(elapsed, 3))
            return report
        if proc.is_alive():
            proc.kill()
            proc.join(5)
            return {
                "ok": False,
                "reason": f"health check hung (no answer in {timeout_s:g} s); killed",
                "seconds": round(elapsed, 3),
                "hung": True,
            }
        proc.join(5)
        return {
            "ok": False,
            "reason": f"health check crashed (exit code {proc.exitcode})",
            "seconds": round(elapsed, 3),
            "crashed": True,
            "exitcode": proc.exitcode,
        }
    finally:
        parent.close()
        if proc.is_alive():
            proc.kill()
            proc.join(5)
