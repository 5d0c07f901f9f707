"""Headless recording as a session job (issue 14): the CLI's ``record`` and any other
caller run the one RecordingJob on the job runner, which can stop it like any job."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest

from edgeconsole.core.errors import ConfigError
from edgeconsole.journal.journal import Journal
from edgeconsole.journal.replay import RecordingReader
from edgeconsole.session.jobs import JobOutcome, JobRunner
from edgeconsole.session.recording_job import RecordingJob, RecordRequest
from edgeconsole.session.session import default_demo_model

SMALL_CONVEYOR = "synthetic:conveyor?seed=3&width=320&height=180&fps=30"


def test_a_model_recording_runs_on_the_job_runner_and_stops_when_cancelled(
    tmp_path: Path,
) -> None:
    out = tmp_path / "run.mcap"
    job = RecordingJob(
        RecordRequest(
            target="local://",
            out=out,
            source=SMALL_CONVEYOR,
            model=str(default_demo_model()),
            seconds=600.0,  # only the cancel can end it within the test's waits
            journal_dir=tmp_path / "journal",
        )
    )
    three = threading.Event()

    def progress(_fraction: float, text: str) -> None:
        m = re.search(r"\((\d+) frames\)", text)
        if m and int(m.group(1)) >= 3:
            three.set()

    done: list[JobOutcome] = []
    handle = JobRunner().run(job, on_progress=progress, on_done=done.append)
    assert three.wait(60), "no three processed frames reported"
    handle.cancel()
    assert handle.wait(30)
    outcome = done[0].result
    assert done[0].error is None and outcome.errors == []
    assert outcome.frames >= 3 and outcome.bytes == out.stat().st_size
    with RecordingReader(out) as rd:
        assert rd.info.frames == outcome.frames
    journal = Journal.open(tmp_path / "journal")
    try:
        rows = journal.recordings()
    finally:
        journal.close()
    assert [(Path(r[0]).name, r[4]) for r in rows] == [("run.mcap", outcome.frames)]


def test_a_recording_is_refused_before_anything_is_opened(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"end in \.mcap"):
        RecordingJob(RecordRequest(target="local://", out=tmp_path / "x.txt"))
    with pytest.raises(ConfigError, match="not available from the command line"):
        RecordingJob(RecordRequest(target="serial:///dev/ttyACM0", out=tmp_path / "x.mcap"))
    assert list(tmp_path.iterdir()) == []
