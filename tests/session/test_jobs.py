"""The session's job runner: one outcome per job, cancel reaches the work, close stops all."""

from __future__ import annotations

import threading

import pytest

from edgeconsole.core.errors import ConfigError
from edgeconsole.core.jobs import CancelFn, ProgressFn, check_cancel
from edgeconsole.session.jobs import JobOutcome, JobRunner
from edgeconsole.session.session import Session


class Counting:
    """A job that counts until told to stop (or until ``limit``)."""

    name = "count"

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit
        self.started = threading.Event()
        self.steps = 0

    def run(self, progress: ProgressFn, cancel: CancelFn) -> int:
        self.started.set()
        while self.limit is None or self.steps < self.limit:
            check_cancel(cancel, "counting")
            self.steps += 1
            progress(-1.0, f"step {self.steps}")
            threading.Event().wait(0.001)
        return self.steps


def test_a_job_reports_progress_and_one_result() -> None:
    runner = JobRunner()
    seen: list[str] = []
    done: list[JobOutcome] = []
    handle = runner.run(
        Counting(limit=5), on_progress=lambda _f, t: seen.append(t), on_done=done.append
    )
    assert handle.wait(30)
    assert [o.result for o in done] == [5] and done[0].ok and done[0].name == "count"
    assert seen == [f"step {i}" for i in range(1, 6)]
    assert runner.running() == []


def test_cancel_reaches_the_work_and_is_not_an_error() -> None:
    runner = JobRunner()
    job = Counting()
    done: list[JobOutcome] = []
    handle = runner.run(job, on_done=done.append)
    assert job.started.wait(30)
    handle.cancel()
    assert handle.wait(30)
    assert done[0].cancelled and done[0].error is None and not done[0].ok


def test_a_failure_is_handed_over_not_raised_on_the_thread() -> None:
    def broken(progress: ProgressFn, cancel: CancelFn) -> None:
        raise ConfigError("no such model", subject="m.onnx")

    handle = JobRunner().start("broken", broken)
    assert handle.wait(30)
    assert handle.outcome is not None and isinstance(handle.outcome.error, ConfigError)


def test_closing_the_session_stops_its_jobs_and_refuses_new_ones() -> None:
    session = Session()
    job = Counting()
    handle = session.jobs.run(job)
    assert job.started.wait(30)
    session.close()
    assert not handle.running and handle.outcome is not None and handle.outcome.cancelled
    with pytest.raises(RuntimeError, match="closed"):
        session.jobs.run(Counting(limit=1))
