"""The worker process's main: open the source and the model, run the pipeline, and
hand every output back through the link.

Runs in a spawned interpreter (never a fork of the window's Qt process). Its stderr
goes to a file the window side reads back when the worker dies (onnxruntime's abort
message, a faulthandler traceback). It beats on the board every 100 ms from its
own thread and marks when a frame's processing started, so the window side tells a
hang (no beat, or one frame in flight for too long) from slow work. It ends by
itself when the window's process is gone.
"""

from __future__ import annotations

import faulthandler
import os
import pickle
import queue
import sys
import threading
from multiprocessing import parent_process
from pathlib import Path
from typing import Any

from edgeconsole.core.clock import now_ns
from edgeconsole.core.errors import EdgeConsoleError
from edgeconsole.core.frames import Frame, InferenceResult
from edgeconsole.core.sched import lower_thread_priority
from edgeconsole.core.sched import wanted as rt_priority_wanted
from edgeconsole.session.runner import RunnerOutput
from edgeconsole.session.worker.job import (
    SOURCE_STATES,
    OutputEncoder,
    WorkerJob,
    WorkerLink,
    per_part,
)

BEAT_S = 0.1


def set_priority(priority: str) -> None:
    """Lower this process below the window's: every thread it has now (Linux sets a
    nice value per thread) and so every thread they start later."""
    if priority not in ("low", "idle"):
        return
    tasks = Path("/proc/self/task")
    tids = [int(t.name) for t in tasks.iterdir()] if tasks.is_dir() else [0]
    for tid in tids:
        try:
            if priority == "idle" and hasattr(os, "SCHED_IDLE"):
                os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
            else:
                os.setpriority(
                    os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + 10)
                )
        except (AttributeError, OSError):
            pass  # not supported here: normal priority


class _Timed:
    """The engine, with the start of the frame in flight on the board (hang detection)."""

    def __init__(self, engine: Any, link: WorkerLink) -> None:
        self._engine = engine
        self._board = link.board

    def process(self, frame: Frame) -> InferenceResult:
        self._board["busy_since_ns"] = now_ns()
        try:
            result: InferenceResult = self._engine.process(frame)
            return result
        finally:
            self._board["busy_since_ns"] = 0


class _LinkSink:
    """The pipeline's outputs into the ring (the pipeline's threads)."""

    def __init__(self, link: WorkerLink, stopping: threading.Event) -> None:
        self._link = link
        self._stopping = stopping
        self._encoder = OutputEncoder(link.frames, link.board, _parent_gone)
        self._lock = threading.Lock()
        self.runner: Any = None

    def send(self, message: tuple[Any, ...] | bytes) -> None:
        data = message if isinstance(message, bytes) else pickle.dumps(message)
        with self._lock:
            self._link.ring.put(data, give_up=_parent_gone)

    def output(self, out: RunnerOutput) -> None:
        with self._lock:
            data = self._encoder.encode(out)
            self._link.ring.put(data, give_up=_parent_gone)

    def error(self, where: str, error: Exception) -> None:
        text = str(error) if isinstance(error, EdgeConsoleError) else f"{where}: {error!r}"
        self.send(("error", where, text))

    def end(self, reason: str) -> None:
        source = getattr(self.runner, "source", None)
        self.send(
            (
                "end",
                reason,
                [str(w) for w in getattr(source, "warnings", None) or []],
                [str(p) for p in getattr(source, "skipped", None) or []],
                bool(getattr(source, "incomplete", False)),
                self.runner.line_counters() if self.runner is not None else None,
            )
        )
        self._stopping.set()

    def model(self, text: str) -> None:
        self.send(("model", text))

    def notice(self, level: str, text: str) -> None:
        self.send(("notice", level, text))


def _parent_gone() -> bool:
    parent = parent_process()
    return parent is not None and not parent.is_alive()


def _beat(link: WorkerLink, runner_box: list[Any], stopping: threading.Event) -> None:
    board = link.board
    board["pid"] = os.getpid()
    while not stopping.wait(BEAT_S):
        board["beat_ns"] = now_ns()
        runner = runner_box[0] if runner_box else None
        if runner is not None:
            board["dropped"] = runner.dropped
            board["captured"] = getattr(runner, "captured", 0)
            state = getattr(runner.source, "state", "") or ""
            board["source_state"] = SOURCE_STATES.index(state) if state in SOURCE_STATES else 0
        if _parent_gone():
            os._exit(3)  # nobody is reading: do not linger as an orphan


def _open(job: WorkerJob) -> tuple[Any, Any]:
    from edgeconsole.inference.engine import InferenceEngine
    from edgeconsole.session.demo_camera import prepare as prepare_demo_camera
    from edgeconsole.sources.factory import open_source

    engine = InferenceEngine.load(job.spec, threads=job.threads, model_bytes=job.model_bytes)
    try:
        prepare_demo_camera(job.source)
        source = open_source(job.source, realtime=job.realtime, loop=job.loop)
        source.open()
    except BaseException:
        engine.close()
        raise
    return engine, source


def worker_main(job: WorkerJob, link: WorkerLink) -> None:
    log = open(job.log_path, "ab", buffering=0)  # noqa: SIM115 - fd 2 for the process' life
    os.dup2(log.fileno(), 2)
    faulthandler.enable(file=sys.stderr)
    set_priority(job.priority)
    stopping = threading.Event()
    sink = _LinkSink(link, stopping)
    runner_box: list[Any] = []
    link.board["beat_ns"] = now_ns()
    threading.Thread(target=_beat, args=(link, runner_box, stopping), daemon=True).start()
    try:
        engine, source = _open(job)
    except Exception as exc:
        text = str(exc) if isinstance(exc, EdgeConsoleError) else f"opening: {exc!r}"
        sink.send(("failed", text))
        stopping.set()
        return
    runner, info = _runner(job, engine, source, sink, link)
    sink.runner = runner
    runner_box.append(runner)
    info["runtime"] = dict(getattr(engine, "runtime", None) or {})
    sink.send(("ready", info))
    try:
        command = link.control.get()  # "go" once the window's side is ready to read
        if command[0] == "go":
            runner.start()
        else:
            stopping.set()
        while not stopping.is_set():
            try:
                command = link.control.get(timeout=0.5)
            except queue.Empty:
                counters = runner.line_counters()
                if counters is not None:
                    sink.send(("counters", counters))
                continue
            if not _obey(runner, command):
                break
    finally:
        runner.stop()
        if runner_started(runner):
            runner.join(timeout=10.0)
            runner.wait_ended(timeout=1.0)
        engine.close()  # onnxruntime must not be mid-run when the interpreter exits
        stopping.set()


def runner_started(runner: Any) -> bool:
    threads = [v for v in vars(runner).values() if isinstance(v, threading.Thread)]
    return any(t.ident is not None for t in threads)


def _obey(runner: Any, command: tuple[Any, ...]) -> bool:
    """One command of the window's side; False: stop."""
    kind = command[0]
    if kind == "trigger":
        runner.trigger(command[1])
    elif kind == "set_trigger":
        runner.set_trigger(command[1])
    elif kind == "set_budget":
        runner.set_budget(command[1])
    return bool(kind != "stop")


def _runner(
    job: WorkerJob, engine: Any, source: Any, sink: _LinkSink, link: WorkerLink
) -> tuple[Any, dict[str, Any]]:
    """The frame pipeline, or the per-part line for a per-part model (its decision
    thread at the worker's priority, its capture thread lower still)."""
    if not per_part(job):
        from edgeconsole.session.pipeline import LocalPipelineRunner

        return LocalPipelineRunner(
            source, _Timed(engine, link), sink, max_frames=job.max_frames, lossless=job.lossless
        ), {}
    from edgeconsole.inference.line import PartLine
    from edgeconsole.inference.line.state import warm_up
    from edgeconsole.session.line_runner import LineRunner

    inspector = engine.inspector
    first = warm_up(inspector)
    line = PartLine(inspector, job.trigger, budget_ms=job.budget_ms)
    line.on_unmatched = lambda event, why: sink.send(("unmatched", event, why))
    runner = LineRunner(
        source,
        line,
        sink,
        max_frames=job.max_frames,
        lossless=job.lossless,
        capture_priority=lower_thread_priority,
        rt_priority=rt_priority_wanted(),
    )
    return runner, {"first_decision_ms": first}
