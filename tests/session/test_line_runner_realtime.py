"""The per-part runner asked for real-time scheduling: its capture and decision threads
get it where the system permits (and say what they got), offline runs never do, and
the decisions are the same parts either way."""

from __future__ import annotations

import os

import pytest

from edgeconsole.core.sched import CAPTURE_PRIORITY, DECISION_PRIORITY, ENV
from edgeconsole.inference.line import PartLine, TriggerConfig
from edgeconsole.session.headless import run_headless
from edgeconsole.session.line_runner import WARM_LEAD_NS, WARM_LEAD_RT_NS, LineRunner
from edgeconsole.session.session import default_demo_model
from edgeconsole.sources.conveyor import SyntheticConveyorSource
from tests.inference.line.helpers import ClassicalJudge
from tests.session.test_line_runner import Recorder


def _permitted() -> bool:
    import resource

    return os.geteuid() == 0 or resource.getrlimit(resource.RLIMIT_RTPRIO)[0] >= DECISION_PRIORITY


def _run(realtime: bool, lossless: bool = False) -> tuple[LineRunner, Recorder]:
    src = SyntheticConveyorSource(
        seed=5, width=640, height=360, parts_per_min=600, fps=60, realtime=not lossless,
        frames=90,
    )  # fmt: skip
    rec = Recorder()
    runner = LineRunner(
        src, PartLine(ClassicalJudge(), TriggerConfig()), rec.output(),
        lossless=lossless, rt_priority=realtime,
    )  # fmt: skip
    runner.start()
    assert rec.ended.wait(60) and runner.join(10)
    assert not rec.errors, rec.errors
    return runner, rec


def test_a_live_run_asked_for_real_time_gets_it_where_permitted() -> None:
    runner, rec = _run(realtime=True)
    assert runner.rt_priority
    if _permitted():
        assert runner.scheduling == {
            "capture": f"SCHED_FIFO {CAPTURE_PRIORITY}",
            "decision": f"SCHED_FIFO {DECISION_PRIORITY}",
        }
    else:
        assert runner.scheduling["decision"].startswith("normal (not permitted")
    plain, rec_plain = _run(realtime=False)
    assert not plain.scheduling["decision"].startswith("SCHED_FIFO")
    assert not plain.scheduling["capture"].startswith("SCHED_FIFO")
    # The same scene, the same parts decided (scheduling changes when, never what).
    ids = sorted(t for d, t in rec.decisions if not d.missed)
    assert ids and ids == sorted(t for d, t in rec_plain.decisions if not d.missed)


def test_the_warm_up_comes_closer_to_the_frame_only_on_a_real_time_thread() -> None:
    """Real-time, the warm-up ends nearer the frame (its CPU time is not held against
    the thread); at normal priority it keeps its longer lead."""
    rt, _ = _run(realtime=True)
    plain, _ = _run(realtime=False)
    assert plain._warm_lead_ns == WARM_LEAD_NS
    assert WARM_LEAD_RT_NS < WARM_LEAD_NS
    got_rt = rt.scheduling["decision"].startswith("SCHED_FIFO")
    assert got_rt == _permitted()
    assert rt._warm_lead_ns == (WARM_LEAD_RT_NS if got_rt else WARM_LEAD_NS)


def test_an_offline_run_never_runs_real_time() -> None:
    """A file read as fast as the model allows would hold a core at real-time priority."""
    runner, _ = _run(realtime=True, lossless=True)
    assert not runner.rt_priority
    assert not any(v.startswith("SCHED_FIFO") for v in runner.scheduling.values())
    assert set(runner.scheduling) == {"capture", "decision"}


def test_a_headless_run_says_what_its_threads_ran_at(monkeypatch: pytest.MonkeyPatch) -> None:
    """Asked for through the environment (the window, ``run`` and the demo read it), and
    reported in the run's summary next to the decision times it explains."""
    monkeypatch.setenv(ENV, "1")
    summary, _ = run_headless(
        "synthetic:conveyor?seed=3&frames=45&ppm=300", default_demo_model(), realtime=True,
        journal=False,
    )  # fmt: skip
    scheduling = summary["line"]["scheduling"]
    if _permitted():
        assert scheduling == {
            "capture": f"SCHED_FIFO {CAPTURE_PRIORITY}",
            "decision": f"SCHED_FIFO {DECISION_PRIORITY}",
        }
    else:
        assert scheduling["decision"].startswith("normal (not permitted")
    assert summary["parts_decided"] >= 1


def test_a_live_run_says_when_real_time_priority_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The system's refusal is faked (the suite may run as root); the run still decides
    its parts and the person is told once why decisions may be late. Not said when turned
    off on purpose, nor for an offline file."""
    import edgeconsole.session.opening as opening

    why = "real-time priority is not permitted for this user (ulimit -r is 0; 10 needed)"
    monkeypatch.setattr(opening, "rt_priority_permitted", lambda: why)
    monkeypatch.setenv(ENV, "0")  # the threads stay normal; the notice is what is tested
    monkeypatch.setattr(opening, "rt_priority_wanted", lambda: True)
    live = "synthetic:conveyor?seed=3&frames=30&ppm=300"
    summary, events = run_headless(live, default_demo_model(), realtime=True, journal=False)
    said = [e.text for e in events if "normal priority" in e.text]
    assert len(said) == 1 and why in said[0] and "LimitRTPRIO" in said[0]
    assert summary["line"]["decided"] > 0
    monkeypatch.setattr(opening, "rt_priority_wanted", lambda: False)
    _, events = run_headless(live, default_demo_model(), realtime=True, journal=False)
    assert not [e for e in events if "normal priority" in e.text]
    monkeypatch.setattr(opening, "rt_priority_wanted", lambda: True)
    _, events = run_headless(live, default_demo_model(), realtime=False, journal=False)
    assert not [e for e in events if "normal priority" in e.text]  # offline: lossless
