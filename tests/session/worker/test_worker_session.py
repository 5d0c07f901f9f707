"""The session with its pipeline in the worker: the same results as in-process (the
per-part line decides the very same parts), recording, external triggers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeconsole.core.clock import now_ns
from edgeconsole.core.parts import TriggerEvent
from edgeconsole.inference.line import TriggerConfig
from edgeconsole.session.session import Session, default_demo_model, sample_models_dir
from tests.fixtures.sources import wait_for

CONVEYOR = "synthetic:conveyor?seed=3&width=640&height=360&fps=30&ppm=240"


def _run(worker: bool, **kw: Any) -> tuple[Session, list[Any], list[Any]]:
    session = Session(worker=worker)
    decisions: list[Any] = []
    samples: list[Any] = []
    session.start_local(CONVEYOR, default_demo_model(), realtime=False, loop=False, **kw)

    def step() -> bool:
        u = session.poll()
        decisions.extend(u.parts)
        samples.extend(u.latency)
        return u.status.state in ("stopped", "error")

    assert wait_for(step, timeout=180), session.poll().status
    session.stop(wait=True)
    return session, decisions, samples


def test_per_part_line_in_the_worker_decides_the_same_parts_as_in_process() -> None:
    inproc, d_in, s_in = _run(False, max_frames=90)
    worker, d_w, s_w = _run(True, max_frames=90)
    try:
        status = worker.poll().status
        assert status.error is None and status.mode == "parts"
        assert status.worker is not None and status.worker["restarts"] == 0
        assert inproc.poll().status.worker is None
        assert len(d_in) >= 3
        key = [(d.part_id, d.verdict, d.trigger_frame, d.decided_frame) for d in d_in]
        assert [(d.part_id, d.verdict, d.trigger_frame, d.decided_frame) for d in d_w] == key
        assert len(s_w) == len(s_in) == 90
        assert all("handoff" in s.stages for s in s_w)
        assert not any("handoff" in s.stages for s in s_in)
        assert worker.line_summary() is not None
    finally:
        inproc.close()
        worker.close()


def test_recording_from_the_worker_writes_every_frame(tmp_path: Path) -> None:
    session = Session(worker=True)
    try:
        session.start_local(
            CONVEYOR,
            sample_models_dir() / "digits",
            realtime=False,
            loop=False,
            max_frames=30,
            record_to=tmp_path / "run.mcap",
        )
        assert wait_for(lambda: session.poll().status.state == "stopped", timeout=180)
        path = session.stop_recording()
        assert path is not None and path.stat().st_size > 0
        from mcap.reader import make_reader

        with path.open("rb") as f:
            topics = [c.topic for _, c, _ in make_reader(f).iter_messages()]
        assert topics.count("/camera") == 30  # every frame, not only those shown
        assert topics.count("/latency") == 30
    finally:
        session.close()


def test_external_triggers_reach_the_line_in_the_worker() -> None:
    session = Session(worker=True)
    session.trigger = TriggerConfig("external")
    try:
        session.start_local(CONVEYOR, default_demo_model(), realtime=True, loop=True)
        assert wait_for(lambda: session.line_running(), timeout=180), session.poll().status
        seq = 0
        got: list[Any] = []

        def fire_and_look() -> bool:
            nonlocal seq
            seq += 1
            session.external_trigger(TriggerEvent(source="test", seq=seq, stamp_ns=now_ns()))
            got.extend(session.poll().parts)
            counters = session.line_summary() or {}
            return bool(got) or counters.get("counters", {}).get("triggers", 0) > 0

        assert wait_for(fire_and_look, timeout=60, step=0.2)
    finally:
        session.close()


def _nices(pid: int) -> list[int]:
    """The nice value of every thread of process ``pid`` (Linux: per thread)."""
    import os

    tasks = Path(f"/proc/{pid}/task")
    return [os.getpriority(os.PRIO_PROCESS, int(t.name)) for t in tasks.iterdir()]


def test_a_window_session_runs_in_a_lower_priority_worker_by_default(tmp_path: Path) -> None:
    import os

    session = Session(interactive=True)
    assert session.use_worker
    try:
        session.start_local(CONVEYOR, sample_models_dir() / "digits", realtime=False)
        assert wait_for(lambda: session.poll().status.frames >= 2, timeout=180)
        worker = session.poll().status.worker
        assert worker is not None and worker["pid"] != os.getpid()
        mine = os.getpriority(os.PRIO_PROCESS, 0)
        assert min(_nices(worker["pid"])) > mine  # the whole worker yields to the window
        # onnxruntime leaves one core to the window.
        assert session.poll().status.runtime["threads"] == max(1, (os.cpu_count() or 2) - 1)
    finally:
        session.close()
    assert not Session().use_worker  # the command line stays in-process


def test_a_per_part_worker_keeps_decisions_at_normal_priority() -> None:
    import os

    session = Session(interactive=True)
    try:
        session.start_local(CONVEYOR, default_demo_model(), realtime=False)
        assert wait_for(lambda: session.poll().status.frames >= 2, timeout=180)
        worker = session.poll().status.worker
        assert worker is not None
        nices = _nices(worker["pid"])
        mine = os.getpriority(os.PRIO_PROCESS, 0)
        assert min(nices) == mine  # decisions have priority over display (issue 12)
        assert max(nices) > mine  # its capture thread yields
    finally:
        session.close()
