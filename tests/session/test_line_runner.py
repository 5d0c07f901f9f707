"""The per-part runner: every frame reaches the decision path; overload is counted."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import numpy as np
import pytest

from edgeconsole.core.clock import now_ns
from edgeconsole.core.frames import PartVerdict
from edgeconsole.core.parts import Box, PartDecision
from edgeconsole.inference.line import PartLine, TriggerConfig
from edgeconsole.session.line_runner import LineRunner
from edgeconsole.session.runner import CallbackSink, RunnerOutput
from edgeconsole.sources.conveyor import SyntheticConveyorSource
from tests.inference.line.helpers import ClassicalJudge, truth_id_at


class Recorder:
    def __init__(self) -> None:
        self.steps: list[int] = []
        self.decisions: list[tuple[PartDecision, int | None]] = []
        self.errors: list[Exception] = []
        self.ended = threading.Event()
        self.reason = ""

    def output(self) -> CallbackSink:
        def on_output(out: RunnerOutput) -> None:
            if out.sample is not None and out.frame is not None:  # every frame tracked
                self.steps.append(out.frame.index)
            if out.judged is not None:  # parts judged on a frame
                frame = out.judged[0]
                self.decisions += [(d, truth_id_at(frame, d.box)) for d in out.decisions]
            elif out.decisions:  # settled at the end of the run
                self.decisions.extend((d, None) for d in out.decisions)

        def on_end(reason: str) -> None:
            self.reason = reason
            self.ended.set()

        return CallbackSink(
            on_output=on_output,
            on_error=lambda where, e: self.errors.append(e),
            on_end=on_end,
        )


def test_offline_run_feeds_every_frame_in_order() -> None:
    src = SyntheticConveyorSource(
        seed=5, width=640, height=360, parts_per_min=300, realtime=False, frames=150
    )
    rec = Recorder()
    runner = LineRunner(src, PartLine(ClassicalJudge()), rec.output(), lossless=True)
    runner.start()
    assert rec.ended.wait(60) and runner.join(10)
    assert rec.steps == list(range(150)) and runner.dropped == 0
    truth = {k for k, _, _ in src.scene.crossings(320.0, range(150))}
    assert {t for _, t in rec.decisions} == truth
    assert rec.reason == "end of source" and not rec.errors


class Slow(ClassicalJudge):
    """The classical judge, made as slow as a big model on a busy laptop."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    def decide(
        self, image: np.ndarray, boxes: Sequence[Box], stamps: dict[str, int] | None = None
    ) -> list[PartVerdict]:
        time.sleep(self.seconds)
        return super().decide(image, boxes, stamps)


def test_parts_faster_than_decisions_are_all_decided_late() -> None:
    """A judge far too slow for the line (4 decisions/s, 15 parts/s): tracking still
    sees every frame, every part that crossed is decided, late, from its own frame."""
    src = SyntheticConveyorSource(
        seed=5, width=640, height=360, parts_per_min=900, fps=60, realtime=True, frames=240
    )
    rec = Recorder()
    runner = LineRunner(src, PartLine(Slow(0.25), TriggerConfig(), budget_ms=5.0), rec.output())
    runner.start()
    assert rec.ended.wait(120) and runner.join(10)
    assert not rec.errors, rec.errors
    assert runner.dropped == 0 and rec.steps == list(range(240))
    truth = {k: hit for k, hit, _ in src.scene.crossings(320.0, range(240))}
    got = {tid: d for d, tid in rec.decisions}
    assert set(got) == set(truth) and len(rec.decisions) == len(truth)
    for tid, d in got.items():
        assert not d.missed and d.late and d.decided_frame == d.trigger_frame == truth[tid]
    # The last parts were decided after the camera stopped: seconds late, but decided.
    assert max(d.decision_ms for d in got.values()) > 1000


def test_an_inspector_hopelessly_behind_counts_the_oldest_parts_missed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import edgeconsole.inference.line.decider as decider

    monkeypatch.setattr(decider, "MAX_PENDING_FRAMES", 3)
    src = SyntheticConveyorSource(
        seed=5, width=640, height=360, parts_per_min=900, fps=60, realtime=True, frames=240
    )
    rec = Recorder()
    runner = LineRunner(src, PartLine(Slow(0.25), TriggerConfig(), budget_ms=5.0), rec.output())
    runner.start()
    assert rec.ended.wait(120) and runner.join(10)
    truth = {k for k, _, _ in src.scene.crossings(320.0, range(240))}
    missed = [d for d, _ in rec.decisions if d.missed]
    assert missed and {d.note for d in missed} == {"the inspector fell too far behind the line"}
    ids = [d.part_id for d, _ in rec.decisions]
    assert len(ids) == len(set(ids)) == len(truth)  # each part once: decided or missed
    assert runner.line.counters.missed == len(missed)


def test_a_live_run_warms_the_decision_path_up_and_an_offline_one_never() -> None:
    """Live: before frames on which a part crosses, the decision thread warms the
    decision path up (``PartLine.warm_up``); every part is still decided once. Offline
    (frames as fast as the decisions allow) there is no gap to warm up in."""
    for realtime in (True, False):
        src = SyntheticConveyorSource(
            seed=5, width=640, height=360, parts_per_min=300, realtime=realtime, frames=90
        )
        rec = Recorder()
        line = PartLine(ClassicalJudge())
        runner = LineRunner(src, line, rec.output(), lossless=not realtime)
        runner.start()
        assert rec.ended.wait(60) and runner.join(10)
        truth = {k for k, _, _ in src.scene.crossings(320.0, range(90))}
        ids = [t for d, t in rec.decisions if not d.missed]
        assert sorted(ids) == sorted(truth) and not rec.errors
        assert runner.warm is realtime
        if realtime:  # done, or skipped when the machine made the thread too late
            assert line.warm_ups + line.warm_ups_skipped > 0
        else:
            assert line.warm_ups == line.warm_ups_skipped == 0


def test_a_frame_that_arrives_during_a_warm_up_is_counted() -> None:
    """The warm-up runs on the decision thread: a frame that comes meanwhile waits for
    it, and that is counted (bench_line reports it), never hidden."""
    src = SyntheticConveyorSource(seed=5, width=640, height=360, realtime=True, frames=1)
    frame = src.read()
    assert frame is not None

    class Line(PartLine):
        def warm_up_due(self, lead_ns: int) -> int | None:
            return now_ns() - lead_ns // 2  # due, and still in time

        def warm_up(self) -> bool:
            runner.queue.put(frame)  # the camera delivers while the judge warms up
            return True

    runner = LineRunner(src, Line(ClassicalJudge()), Recorder().output())
    assert runner._until_warm_up(0.25) == 0.25 and runner.warm_overlaps == 1
    assert runner._until_warm_up(0.25) == 0.25 and runner.warm_overlaps == 1  # queue busy
    src.close()
