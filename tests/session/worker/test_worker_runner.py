"""The frame pipeline in a real spawned worker: real source, real onnxruntime, real
signals. Waits are on conditions (counts, messages), never on durations."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edgeconsole.inference.loader import load_model
from edgeconsole.session.runner import CallbackSink, RunnerOutput
from edgeconsole.session.session import sample_models_dir
from edgeconsole.session.worker.job import WorkerJob
from edgeconsole.session.worker.runner import (
    WorkerError,
    WorkerPipelineRunner,
    describe_exit,
    log_tail,
)
from tests.fixtures.sources import wait_for

CONVEYOR = "synthetic:conveyor?seed=3&width=320&height=180"


class Collected:
    def __init__(self) -> None:
        self.outputs: list[RunnerOutput] = []
        self.errors: list[str] = []
        self.notices: list[tuple[str, str]] = []
        self.ended: list[str] = []
        self.lock = threading.Lock()

    def sink(self) -> CallbackSink:
        return CallbackSink(
            on_output=self.outputs.append,
            on_error=lambda where, exc: self.errors.append(str(exc)),
            on_end=self.ended.append,
            on_notice=lambda level, text: self.notices.append((level, text)),
        )

    def samples(self) -> int:
        return sum(1 for o in list(self.outputs) if o.sample is not None)


def _job(**fields: Any) -> WorkerJob:
    spec = load_model(str(sample_models_dir() / "digits"))
    base: dict[str, Any] = {
        "source": CONVEYOR,
        "spec": spec,
        "threads": 1,
        "realtime": False,
        "loop": True,
        "priority": "low",
    }
    base.update(fields)
    return WorkerJob(**base)


@pytest.fixture
def runners() -> Iterator[list[WorkerPipelineRunner]]:
    made: list[WorkerPipelineRunner] = []
    yield made
    for runner in made:
        runner.stop()
        runner.join(30)


def _start(runners: list[WorkerPipelineRunner], got: Collected, **kw: Any) -> Any:
    job_fields = {k: kw.pop(k) for k in list(kw) if k in WorkerJob.__dataclass_fields__}
    runner = WorkerPipelineRunner(_job(**job_fields), got.sink(), **kw)
    runners.append(runner)
    runner.open()
    runner.start()
    return runner


def test_results_and_handoff_stage_come_back_from_the_worker(
    runners: list[WorkerPipelineRunner],
) -> None:
    got = Collected()
    runner = _start(runners, got, max_frames=12)
    assert runner.pid is not None and runner.pid != os.getpid()
    assert runner.wait_ended(120), got.errors
    assert got.ended == ["frame limit reached"]
    assert runner.processed == 12 == got.samples()
    samples = [o.sample for o in got.outputs if o.sample is not None]
    assert [s.frame_index for s in samples] == sorted(s.frame_index for s in samples)
    for s in samples:
        assert {"preprocess", "infer", "postprocess", "handoff"} <= set(s.stages)
        assert s.e2e_ms >= s.stages["handoff"] >= 0
    assert samples[0].first_inference and not samples[-1].first_inference
    results = [o.result for o in got.outputs if o.result is not None]
    assert len(results) == 12 and all(r.classification is not None for r in results)
    shown = [o.frame for o in got.outputs if o.frame is not None]
    assert shown, "no frame to show came back"
    assert shown[-1].image.shape == (180, 320, 3)
    assert runner.runtime.get("intra_op_threads", 1) == 1 or runner.runtime


def test_every_frame_comes_back_while_recording(runners: list[WorkerPipelineRunner]) -> None:
    got = Collected()
    runner = _start(runners, got, max_frames=8, keep_frames=lambda: True)
    assert runner.wait_ended(120), got.errors
    frames = [o.frame for o in got.outputs if o.frame is not None]
    # Slots are reused newest-wins; the reader keeps up with 8 frames in 4 slots only
    # if it copies as they come, which is what keep_frames asks for.
    assert len(frames) >= 4
    assert all(f.image.shape == (180, 320, 3) for f in frames)


def test_sigkill_mid_run_is_reported_with_the_signal_and_the_worker_restarts(
    runners: list[WorkerPipelineRunner],
) -> None:
    got = Collected()
    runner = _start(runners, got)
    assert wait_for(lambda: got.samples() >= 5, timeout=120)
    first_pid = runner.pid
    os.kill(first_pid, signal.SIGKILL)
    assert wait_for(lambda: any("SIGKILL" in t for _, t in got.notices), timeout=60)
    before = got.samples()
    assert wait_for(lambda: got.samples() >= before + 5, timeout=120), got.notices
    assert runner.restarts == 1
    assert runner.pid != first_pid
    level, text = next(n for n in got.notices if "SIGKILL" in n[1])
    assert level == "error" and f"pid {first_pid}" in text and "Restarting" in text
    assert not got.ended and not got.errors


def test_a_hung_worker_is_killed_and_restarted(runners: list[WorkerPipelineRunner]) -> None:
    got = Collected()
    runner = _start(runners, got, hang_s=1.0)
    assert wait_for(lambda: got.samples() >= 3, timeout=120)
    os.kill(runner.pid, signal.SIGSTOP)  # no more heartbeats: a hang as the window sees it
    assert wait_for(lambda: any("hung" in t for _, t in got.notices), timeout=60)
    before = got.samples()
    assert wait_for(lambda: got.samples() >= before + 3, timeout=120), got.notices
    assert "no heartbeat" in next(t for _, t in got.notices if "hung" in t)


def test_an_abort_shows_the_workers_last_stderr_lines(runners: list[WorkerPipelineRunner]) -> None:
    got = Collected()
    runner = _start(runners, got, max_restarts=0)
    assert wait_for(lambda: got.samples() >= 2, timeout=120)
    os.kill(runner.pid, signal.SIGABRT)
    assert runner.wait_ended(60)
    assert got.ended == ["worker error"]
    assert len(got.errors) == 1
    assert "SIGABRT" in got.errors[0] and "Fatal Python error" in got.errors[0]
    assert "not restarted" in got.errors[0]


def test_a_source_that_cannot_open_is_the_workers_error_not_a_crash(tmp_path: Path) -> None:
    got = Collected()
    runner = WorkerPipelineRunner(_job(source=str(tmp_path / "missing.mp4")), got.sink())
    with pytest.raises(WorkerError, match=r"missing\.mp4"):
        runner.open()
    assert runner.join(1)


def test_stop_ends_the_worker(runners: list[WorkerPipelineRunner]) -> None:
    got = Collected()
    runner = _start(runners, got)
    assert wait_for(lambda: got.samples() >= 2, timeout=120)
    pid = runner.pid
    runner.stop()
    assert runner.join(30)
    assert got.ended == ["stopped"]
    with pytest.raises(ProcessLookupError):  # exited and reaped
        os.kill(pid, 0)


def test_exit_descriptions_and_log_tail(tmp_path: Path) -> None:
    assert describe_exit(-9).startswith("killed by SIGKILL (killed: out of memory")
    assert "onnxruntime" in describe_exit(-6)
    assert describe_exit(3) == "exited with code 3"
    log = tmp_path / "w.log"
    log.write_bytes(b"one\n\ntwo\n" + b"x" * 10 + b"\nlast\n")
    assert log_tail(log, lines=2) == ["x" * 10, "last"]
    assert log_tail(tmp_path / "none.log") == []


def test_background_priority_is_sched_idle(runners: list[WorkerPipelineRunner]) -> None:
    got = Collected()
    runner = _start(runners, got, priority="idle")
    assert wait_for(lambda: got.samples() >= 2, timeout=120)
    policy = os.sched_getscheduler(runner.pid)
    assert policy == os.SCHED_IDLE


def test_worker_priority_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from edgeconsole.session.worker.runner import worker_priority

    assert worker_priority(True) == "low" and worker_priority(False) == "normal"
    monkeypatch.setenv("EDGECONSOLE_WORKER_PRIORITY", "idle")
    assert worker_priority(False) == "idle"
    monkeypatch.setenv("EDGECONSOLE_WORKER_PRIORITY", "bogus")
    assert worker_priority(True) == "low"


def test_closing_the_source_of_a_worker_that_never_ran_ends_it(tmp_path: Path) -> None:
    got = Collected()
    runner = WorkerPipelineRunner(_job(), got.sink())
    runner.open()
    pid, folder = runner.pid, runner.job.log_path.parent
    assert pid is not None and folder.is_dir()
    runner.source.close()  # what the session does when a failure follows the opening
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not folder.exists()
