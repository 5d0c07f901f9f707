"""The session's job runner: the one place that starts threads for use cases.

A use case (bundle build, INT8 comparison, bench, library scan, inspection,
commissioning report, evidence export, gateway discovery) is a *job*
(``core/jobs.py``: ``run(progress, cancel)``). The window and the CLI hand it to
:class:`JobRunner`, which runs it on a thread it owns, forwards its progress, lets
anyone cancel it, and reports exactly one :class:`JobOutcome`. ``close()`` cancels
what still runs and waits for it, so no worker outlives its session.

Callbacks (``on_progress``, ``on_done``) run on the job's thread: the window turns
them into queued Qt signals (``ui/jobs.py``), the CLI prints them.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edgeconsole.core.errors import Cancelled
from edgeconsole.core.jobs import CancelFn, Job, ProgressFn, no_progress

#: ``work(progress, cancel) -> result``: a job's ``run`` or a plain function.
Work = Callable[[ProgressFn, CancelFn], Any]


@dataclass(frozen=True)
class JobOutcome:
    """How a job ended: a result, an error, or cancelled (exactly one holds)."""

    job_id: int
    name: str
    result: Any = None
    error: BaseException | None = None
    cancelled: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and not self.cancelled


class RunningJob:
    """One job handed to the runner: its id, name, cancel and wait."""

    def __init__(self, job_id: int, name: str) -> None:
        self.job_id = job_id
        self.name = name
        self._cancel = threading.Event()
        self._done = threading.Event()
        self.outcome: JobOutcome | None = None

    @property
    def running(self) -> bool:
        return not self._done.is_set()

    @property
    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    def cancel(self) -> None:
        """Ask the job to stop at its next safe point (it raises Cancelled there)."""
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> bool:
        """True once the job ended (its ``on_done`` has returned)."""
        return self._done.wait(timeout)


class JobRunner:
    """Runs jobs on threads it owns; any number at once, each cancellable."""

    def __init__(self, name: str = "edgeconsole-job") -> None:
        self._name = name
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._jobs: dict[int, RunningJob] = {}
        self._closed = False

    def run(
        self,
        job: Job[Any],
        *,
        on_progress: ProgressFn = no_progress,
        on_done: Callable[[JobOutcome], None] | None = None,
    ) -> RunningJob:
        """Start ``job`` (a ``core.jobs.Job``)."""
        return self.start(job.name, job.run, on_progress=on_progress, on_done=on_done)

    def start(
        self,
        name: str,
        work: Work,
        *,
        on_progress: ProgressFn = no_progress,
        on_done: Callable[[JobOutcome], None] | None = None,
    ) -> RunningJob:
        """Start ``work(progress, cancel)`` on a new thread named after the job."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the session is closed: no new jobs")
            handle = RunningJob(next(self._ids), name)
            self._jobs[handle.job_id] = handle
        thread = threading.Thread(
            target=self._run,
            args=(handle, work, on_progress, on_done),
            name=f"{self._name}-{name}",
            daemon=True,
        )
        thread.start()
        return handle

    def running(self) -> list[RunningJob]:
        with self._lock:
            return [j for j in self._jobs.values() if j.running]

    def cancel_all(self) -> None:
        for job in self.running():
            job.cancel()

    def close(self, timeout: float = 10.0) -> bool:
        """Cancel every job and wait up to ``timeout`` s; True when all have ended."""
        with self._lock:
            self._closed = True
        jobs = self.running()
        for job in jobs:
            job.cancel()
        return all(job.wait(timeout) for job in jobs)

    def _run(
        self,
        handle: RunningJob,
        work: Work,
        on_progress: ProgressFn,
        on_done: Callable[[JobOutcome], None] | None,
    ) -> None:
        cancelled = handle._cancel.is_set
        try:
            result = work(on_progress, cancelled)
        except Cancelled:
            outcome = JobOutcome(handle.job_id, handle.name, cancelled=True)
        except BaseException as exc:  # every failure reaches whoever started the job
            # A job that failed while being stopped was stopped, not broken.
            outcome = JobOutcome(handle.job_id, handle.name, error=exc, cancelled=cancelled())
            if outcome.cancelled:
                outcome = JobOutcome(handle.job_id, handle.name, cancelled=True)
        else:
            # Finished before it saw the cancel: the work is done (a file may have been
            # written), so say so rather than claim it was stopped.
            outcome = JobOutcome(handle.job_id, handle.name, result=result)
        handle.outcome = outcome
        try:
            if on_done is not None:
                on_done(outcome)
        finally:
            with self._lock:
                self._jobs.pop(handle.job_id, None)
            handle._done.set()


_shared: JobRunner | None = None
_shared_lock = threading.Lock()


def shared_runner() -> JobRunner:
    """The process's runner, for a widget built without a session (tests, tools)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = JobRunner()
        return _shared
