"""The window's side of the worker: a Runner that supervises an inference worker.

One thread here takes the worker's outputs from the ring and hands them to the
session's sink, exactly as an in-process runner would (same RunnerOutput, same
stage stamps plus 'handoff'). The same thread watches the worker: its process
sentinel (it exited: onnxruntime aborted, the OOM killer, a SIGKILL) and its
heartbeat (no beat, or one frame in flight for longer than ``hang_s``: it is
killed). Either way the outputs it had already queued are taken first (results
are never dropped), the reason (exit code or signal, the last lines it wrote to
stderr) goes to the sink as a notice, and a new worker starts on the same job.
A worker that cannot start again, or dies ``max_restarts`` times, ends the run
with that reason as its error. The window never dies with it.
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import os
import pickle
import re
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeconsole.core.clock import now_ns
from edgeconsole.core.errors import EdgeConsoleError
from edgeconsole.core.parts import LineCounters, TriggerEvent
from edgeconsole.core.shm import HandoffError
from edgeconsole.session.runner import RunnerBase, RunnerSink
from edgeconsole.session.worker.child import worker_main
from edgeconsole.session.worker.job import (
    SOURCE_STATES,
    WorkerJob,
    WorkerLink,
    decode_output,
    per_part,
)

if TYPE_CHECKING:
    from edgeconsole.inference.line import TriggerConfig

#: Outputs taken from the ring per batch before they are handed on (the frame to
#: show is the newest of a batch: only its pixels are copied).
BATCH = 64


def worker_default(interactive: bool) -> bool:
    """Whether a session runs its pipeline in a worker when not told: the setting
    EDGECONSOLE_WORKER (1/0), else whenever a window is attached (``interactive``):
    the window must answer while inference runs flat out. The command line keeps it
    in-process (no window to keep responsive, one process fewer)."""
    setting = os.environ.get("EDGECONSOLE_WORKER", "").strip().lower()
    if setting in ("1", "true", "yes", "on"):
        return True
    if setting in ("0", "false", "no", "off"):
        return False
    return interactive


def worker_priority(lowered: bool) -> str:
    """The worker's priority: EDGECONSOLE_WORKER_PRIORITY ("normal", "low": nice 10,
    "idle": SCHED_IDLE, it runs only when nothing else wants the CPU), else "low" when
    ``lowered`` (a window's frame pipeline), "normal" otherwise (per-part decisions
    keep their priority over display)."""
    setting = os.environ.get("EDGECONSOLE_WORKER_PRIORITY", "").strip().lower()
    if setting in ("normal", "low", "idle"):
        return setting
    return "low" if lowered else "normal"


class WorkerError(EdgeConsoleError):
    """The inference worker failed, or reported an error of its pipeline."""


def describe_exit(exitcode: int | None) -> str:
    """An exit code as a person reads it: which signal, or which code."""
    if exitcode is None:
        return "still running"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        why = {
            "SIGKILL": " (killed: out of memory, or by hand)",
            "SIGABRT": " (aborted: onnxruntime or a native library failed)",
            "SIGSEGV": " (crashed in native code)",
        }.get(name, "")
        return f"killed by {name}{why}"
    return f"exited with code {exitcode}"


def log_tail(path: Path, lines: int = 5, limit: int = 8192) -> list[str]:
    """What the worker last wrote to stderr that says why it died: the lines that name
    an error (onnxruntime's "what():", Python's "Fatal Python error: ...") first, then
    the very last lines, ``lines`` in all."""
    try:
        with path.open("rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - limit))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return []
    every = [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.startswith("Extension modules:")
    ]
    telling = [i for i, line in enumerate(every) if _TELLING.search(line)][-(lines - 2) :]
    keep = sorted(
        set(telling) | set(range(max(0, len(every) - (lines - len(telling))), len(every)))
    )
    return [every[i] for i in keep]


_TELLING = re.compile(r"Fatal Python error|what\(\)|terminate called|Error|MemoryError|Killed")


class _Incarnation:
    """One worker process and its link."""

    def __init__(self, ctx: Any, job: WorkerJob) -> None:
        self.link = WorkerLink(ctx)
        self.job = job
        self.process = ctx.Process(
            target=worker_main,
            args=(job, self.link),
            name="edgeconsole-inference-worker",
            daemon=True,
        )
        self.process.start()
        self.ready_at = 0

    @property
    def pid(self) -> int | None:
        pid: int | None = self.process.pid
        return pid

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5.0)

    def close(self) -> None:
        self.kill()
        self.link.close()
        self.process.close()


class WorkerSource:
    """The worker's source as the session sees it (state, and what it said at the end)."""

    def __init__(self, runner: WorkerPipelineRunner) -> None:
        self._runner = runner
        self.state: str | None = None
        self.warnings: list[str] = []
        self.skipped: list[str] = []
        self.incomplete = False

    def close(self) -> None:
        """Stop the worker; one that never started running (the session gave up while
        opening) is also ended and its memory and files removed at once."""
        if self._runner.started:
            self._runner.stop()
        else:
            self._runner.close()


class WorkerPipelineRunner(RunnerBase):
    """The frame pipeline (capture + inference) in a worker process."""

    def __init__(
        self,
        job: WorkerJob,
        output: RunnerSink,
        *,
        keep_frames: Callable[[], bool] = lambda: False,
        on_unmatched: Callable[[TriggerEvent, str], None] | None = None,
        hang_s: float = 20.0,
        open_timeout_s: float = 180.0,
        max_restarts: int = 5,
    ) -> None:
        """``keep_frames``: every frame's pixels are wanted (recording); otherwise only
        the newest frame of each batch comes back (the one the window shows)."""
        self._tmp = Path(tempfile.mkdtemp(prefix="edgeconsole-worker-"))
        # A window ended (SIGTERM, Ctrl+Q) while this worker was still opening exits
        # with the opening thread cut short: the folder must still go (seen in
        # tests/security/test_offline.py::test_window_ended_by_sigterm_cleans_up).
        atexit.register(self._at_exit)
        #: The worker being started (its process exists before it is ready).
        self._spawning: _Incarnation | None = None
        self.job = replace(job, log_path=self._tmp / "worker.log")
        self.output = output
        self.keep_frames = keep_frames
        self.on_unmatched = on_unmatched
        self.per_part = per_part(job)
        #: Per-part: the line's counters (those of workers that died, added up).
        self._counters_before = LineCounters()
        self._counters_now: LineCounters | None = None
        self.first_decision_ms: float | None = None
        self.hang_s = hang_s
        self.open_timeout_s = open_timeout_s
        self.max_restarts = max_restarts
        self.source = WorkerSource(self)
        self.processed = 0
        self._dropped_before = 0
        self._dropped_now = 0
        self.restarts = 0
        #: Why the last worker died (None: none died).
        self.last_death: str | None = None
        self.runtime: dict[str, Any] = {}
        self._ctx = multiprocessing.get_context("spawn")
        self._worker: _Incarnation | None = None
        self._stop = threading.Event()
        self._ended = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="edgeconsole-worker-link", daemon=True
        )

    # ------------------------------------------------------------ Runner protocol
    @property
    def dropped(self) -> int:
        return self._dropped_before + self._dropped_now

    @property
    def started(self) -> bool:
        return self._thread.ident is not None

    @property
    def pid(self) -> int | None:
        worker = self._worker
        return None if worker is None else worker.pid

    def info(self) -> dict[str, Any]:
        """For the status: the worker's pid, how often it was restarted, why it died."""
        return {"pid": self.pid, "restarts": self.restarts, "last_death": self.last_death}

    def trigger(self, event: TriggerEvent) -> bool:
        """An external edge for the worker's line (any thread): sent at once."""
        return self.per_part and self._command(("trigger", event))

    def set_trigger(self, trigger: TriggerConfig) -> None:
        self.job = replace(self.job, trigger=trigger)  # a restarted worker keeps it
        self._command(("set_trigger", trigger))

    def set_budget(self, ms: float | None) -> None:
        self.job = replace(self.job, budget_ms=ms)
        self._command(("set_budget", ms))

    def line_counters(self) -> LineCounters | None:
        if not self.per_part:
            return None
        now = self._counters_now
        return self._counters_before if now is None else _add(self._counters_before, now)

    def _command(self, command: tuple[Any, ...]) -> bool:
        worker = self._worker
        if worker is None:
            return False
        try:
            worker.link.control.put(command)
        except (OSError, ValueError):
            return False  # the worker is being replaced
        return True

    def close(self) -> None:
        """Stop and wait until the worker is gone (its memory and files too)."""
        self.stop()
        self.join(30.0)

    def open(self) -> dict[str, Any]:
        """Start the worker and wait until its source and model are open (the opening
        thread). Raises the worker's own error when it cannot open them."""
        self._worker = self._spawn(self.job)
        return self.runtime

    def start(self) -> None:
        self._go()
        self._thread.start()

    def _go(self) -> None:
        worker = self._worker
        if worker is not None:
            worker.link.board["keep"] = int(self.keep_frames())
            self._command(("go",))

    def stop(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        self._command(("stop",))

    def join(self, timeout: float | None = None) -> bool:
        if self._thread.ident is None:
            self._cleanup()
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def wait_ended(self, timeout: float | None = None) -> bool:
        return self._ended.wait(timeout)

    # ------------------------------------------------------------------ internals
    def _spawn(self, job: WorkerJob) -> _Incarnation:
        worker = self._spawning = _Incarnation(self._ctx, job)
        deadline = now_ns() + int(self.open_timeout_s * 1e9)
        try:
            while True:
                data = worker.link.ring.get(timeout=0.1)
                if data is not None:
                    message = pickle.loads(data)
                    if message[0] == "ready":
                        self.runtime = dict(message[1].get("runtime") or {})
                        self.first_decision_ms = message[1].get("first_decision_ms")
                        worker.ready_at = now_ns()
                        return worker
                    if message[0] == "failed":
                        raise WorkerError(message[1])
                    continue
                if not worker.process.is_alive():
                    worker.process.join(1.0)
                    raise WorkerError(self._death("while opening", worker))
                if now_ns() > deadline:
                    raise WorkerError(
                        f"the inference worker did not open the source and model within "
                        f"{self.open_timeout_s:.0f} s",
                        hint="a slow disk or a huge model; see the log, or try again",
                    )
                if self._stop.is_set():
                    raise WorkerError("stopped while the inference worker was opening")
        except BaseException:
            worker.close()
            raise
        finally:
            self._spawning = None

    def _death(self, what: str, worker: _Incarnation, why: str | None = None) -> str:
        reason = why or describe_exit(worker.process.exitcode)
        tail = log_tail(self.job.log_path)
        text = f"inference worker (pid {worker.pid}) {reason} {what}".strip()
        if tail:
            text += "; its last output: " + " | ".join(tail)
        return text

    def _hung(self, worker: _Incarnation) -> str | None:
        if not worker.ready_at:
            return None
        now = now_ns()
        board = worker.link.board
        beat = max(board["beat_ns"], worker.ready_at)
        busy = board["busy_since_ns"]
        limit = int(self.hang_s * 1e9)
        if now - beat > limit:
            return f"hung: no heartbeat for {(now - beat) / 1e9:.1f} s"
        if busy and now - busy > limit:
            return f"hung: one frame in flight for {(now - busy) / 1e9:.1f} s"
        return None

    def _take(self, worker: _Incarnation, timeout: float) -> list[tuple[Any, ...]]:
        ring = worker.link.ring
        batch: list[tuple[Any, ...]] = []
        try:
            data = ring.get(timeout=timeout)
            while data is not None:
                batch.append(pickle.loads(data))
                if len(batch) >= BATCH:
                    break
                data = ring.get(timeout=0)
        except HandoffError:
            # Its writer died mid-message: what came before counts, the rest is gone
            # with the worker (the supervisor sees it dead and restarts it).
            worker.kill()
        return batch

    def _hand_on(self, worker: _Incarnation, batch: list[tuple[Any, ...]]) -> str | None:
        """Hand a batch to the sink; returns the worker's end reason if it ended."""
        keep = self.keep_frames()
        worker.link.board["keep"] = int(keep)
        last = max((i for i, m in enumerate(batch) if m[0] == "out" and m[5]), default=-1)
        ended = None
        for i, message in enumerate(batch):
            kind = message[0]
            if kind == "out":
                out = decode_output(
                    message, worker.link.frames, pixels=keep or i == last, judged_pixels=keep
                )
                if out.sample is not None:
                    self.processed += 1
                self.output.output(out)
            elif kind == "error":
                self.output.error(message[1], WorkerError(message[2]))
            elif kind == "end":
                ended = message[1]
                self.source.warnings = list(message[2])
                self.source.skipped = list(message[3])
                self.source.incomplete = bool(message[4])
                if message[5] is not None:
                    self._counters_now = message[5]
            elif kind == "counters":
                self._counters_now = message[1]
            elif kind == "unmatched":
                if self.on_unmatched is not None:
                    self.on_unmatched(message[1], message[2])
            elif kind == "model":
                self.output.model(message[1])
            elif kind == "notice":
                self._notice(message[1], message[2])
        board = worker.link.board
        self._dropped_now = board["dropped"]
        state = board["source_state"]
        self.source.state = SOURCE_STATES[state] or None if 0 <= state < 4 else None
        return ended

    def _notice(self, level: str, text: str) -> None:
        self.output.notice(level, text)

    def _run(self) -> None:
        reason = "stopped"
        try:
            reason = self._supervise()
        except Exception as exc:  # a bug here must end the run visibly, not silently
            self.output.error("worker", exc)
            reason = "worker error"
        finally:
            self._cleanup()
            self._ended.set()
            self.output.end(reason)

    def _supervise(self) -> str:
        stop_sent_at = 0
        while True:
            worker = self._worker
            if worker is None:
                return "stopped"
            ended = self._hand_on(worker, self._take(worker, 0.1))
            if ended is not None:
                worker.process.join(10.0)
                return ended
            if self._stop.is_set():
                stop_sent_at = stop_sent_at or now_ns()
                if not worker.process.is_alive():
                    self._hand_on(worker, self._take(worker, 0))
                    return "stopped"
                if now_ns() - stop_sent_at > 10e9:  # it does not stop: ended by force
                    worker.kill()
                continue
            hung = self._hung(worker)
            if hung is not None:
                worker.kill()
            if worker.process.is_alive():
                continue
            # Died: take everything it had queued first, then say why and start again.
            while batch := self._take(worker, 0):
                if (ended := self._hand_on(worker, batch)) is not None:
                    return ended
            death = self._death("", worker, hung)
            self.last_death = death
            self._dropped_before += self._dropped_now
            self._dropped_now = 0
            if self._counters_now is not None:
                self._counters_before = _add(self._counters_before, self._counters_now)
                self._counters_now = None
            self._worker = None
            worker.close()
            if self._stop.is_set():
                return "stopped"
            if self.restarts >= self.max_restarts:
                raise WorkerError(
                    f"{death}; it died {self.restarts + 1} times, not restarted again",
                    hint="see the model and the source; run it in-process to see the error",
                )
            self.restarts += 1
            self._notice(
                "error",
                f"{death}. Restarting it ({self.restarts} of {self.max_restarts}).",
            )
            job = self.job
            if job.max_frames is not None:
                job = replace(job, max_frames=max(1, job.max_frames - self.processed))
            self._worker = self._spawn(job)
            self._go()
            self._notice("info", f"inference worker restarted (pid {self._worker.pid})")

    def _cleanup(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.close()
        self._remove_tmp()
        atexit.unregister(self._at_exit)

    def _at_exit(self) -> None:
        # The worker goes first: one still starting would otherwise create its log in
        # the folder while it is being removed, and the folder would stay (multiprocessing
        # ends its children only after this handler; CI saw that at load 11).
        for worker in (self._spawning, self._worker):
            if worker is not None:
                with contextlib.suppress(Exception):
                    worker.kill()
        self._remove_tmp()

    def _remove_tmp(self) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)


def _add(a: LineCounters, b: LineCounters) -> LineCounters:
    return LineCounters(**{k: getattr(a, k) + getattr(b, k) for k in a.to_json()})
