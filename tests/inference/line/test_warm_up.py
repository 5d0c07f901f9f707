"""Warming the decision path up before a part's crossing frame (PartLine.warm_up).

The warm-up judges the part that will cross the line next on the frame before, and
throws the verdict away: it must change no decision and count nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edgeconsole.core.frames import PartVerdict
from edgeconsole.core.parts import Box
from edgeconsole.inference.line import PartLine, TriggerConfig
from edgeconsole.sources.conveyor import ConveyorScene
from tests.inference.line.helpers import PERIOD_NS, CameraClock, ClassicalJudge, frames, truth_id_at

W, H = 640, 360
LEAD = 5_000_000


class Spy(ClassicalJudge):
    """The classical judge, noting which part (by the scene's truth) each call judged
    and whether it was a warm-up."""

    def __init__(self) -> None:
        super().__init__()
        self.warming = False
        self.frame = None  # the frame being stepped (for its truth)
        self.warmed: list[tuple[int, int | None]] = []  # (frame index, scene part id)

    def decide(
        self, image: np.ndarray, boxes: Sequence[Box], stamps: dict[str, int] | None = None
    ) -> list[PartVerdict]:
        if self.warming:
            assert self.frame is not None and image is self.frame.image
            self.warmed += [(self.frame.index, truth_id_at(self.frame, b)) for b in boxes]
        return super().decide(image, boxes, stamps)


def _run(warm: bool, judge: Spy, sc: ConveyorScene, n: int, clock: CameraClock):  # type: ignore[no-untyped-def]
    line = PartLine(judge, TriggerConfig(), budget_ms=1000.0, clock=clock)
    decided = []
    dues = []
    for f in frames(sc, range(n), clock=clock):
        step = line.step(f)
        decided += [
            (d.part_id, d.verdict, d.trigger_frame, d.decided_frame) for d in step.decisions
        ]
        judge.frame = f
        if warm:
            due = line.warm_up_due(LEAD)
            if due is not None:
                dues.append((f.captured_ns, due))
                assert line.warm_up_due(LEAD) == due  # asking twice changes nothing
                judge.warming = True
                assert line.warm_up()
                judge.warming = False
                assert line.warm_up_due(LEAD) is None  # once per frame
    decided += [(d.part_id, d.verdict, d.trigger_frame, d.decided_frame) for d in line.finish()]
    return line, decided, dues


def test_warming_up_before_each_crossing_changes_no_decision_and_counts_nothing() -> None:
    sc = ConveyorScene(seed=5, fps=30, width=W, height=H, parts_per_min=300)
    plain, plain_decided, _ = _run(False, Spy(), sc, 240, CameraClock())
    judge = Spy()
    line, decided, dues = _run(True, judge, sc, 240, CameraClock())
    assert decided == plain_decided and len(decided) >= 30
    assert line.counters.to_json() == plain.counters.to_json()
    assert plain.warm_ups == 0 and line.warm_ups == len(judge.warmed) == len(dues)
    # Each warm-up was due one lead before the next frame, and judged the part that
    # then crossed the line on that next frame.
    assert all(due == captured + PERIOD_NS - LEAD for captured, due in dues)
    crossing = {(hit - 1, k) for k, hit, _ in sc.crossings(W / 2, range(241))}
    assert set(judge.warmed) <= crossing
    # Every crossing but those of parts first seen one frame before (no velocity yet).
    assert len(judge.warmed) >= len(crossing) - 2


def test_no_warm_up_for_other_triggers_or_a_judge_slower_than_the_lead() -> None:
    sc = ConveyorScene(seed=5, fps=30, width=W, height=H, parts_per_min=300)
    clock = CameraClock()
    line = PartLine(ClassicalJudge(), TriggerConfig("periodic", period_ms=100), clock=clock)
    for f in frames(sc, range(60), clock=clock):
        line.step(f)
        assert line.warm_up_due(LEAD) is None and not line.warm_up()

    class Slow(ClassicalJudge):
        def decide(
            self, image: np.ndarray, boxes: Sequence[Box], stamps: dict[str, int] | None = None
        ) -> list[PartVerdict]:
            clock.t += 2 * LEAD  # the judge's call takes twice the lead
            return super().decide(image, boxes, stamps)

    clock = CameraClock()
    line = PartLine(Slow(), TriggerConfig(), clock=clock)
    warmed = 0
    for f in frames(sc, range(120), clock=clock):
        line.step(f)
        if line.warm_up_due(LEAD) is not None:
            warmed += line.warm_up()
    assert line.counters.decided >= 10
    assert warmed <= 1  # at most before the first call showed how slow the judge is


def test_the_inspector_warm_up_takes_the_model_path_and_the_no_label_path() -> None:
    """Before the line starts (``state.warm_up``): a labelled part (the model runs)
    and a bare one (a verdict without the model: its first run imported numpy.ma, a
    13-14 ms first missing-label decision in every run)."""
    from pathlib import Path

    from edgeconsole.inference.line.state import warm_up
    from edgeconsole.inference.loader import load_model
    from edgeconsole.inference.part_inspector import PartInspector

    root = Path(__file__).resolve().parents[3] / "sample_models" / "label_orientation"
    insp = PartInspector.load(load_model(root), threads=1)
    seen: list[tuple[str, bool]] = []
    real = insp.decide

    def spy(image: np.ndarray, boxes: Sequence[Box], stamps: dict[str, int] | None = None):  # type: ignore[no-untyped-def]
        st: dict[str, int] = {}
        out = real(image, boxes, st)
        seen.extend((v.reason, st["infer_end"] > st["infer_start"]) for v in out)
        return out

    insp.decide = spy  # type: ignore[method-assign]
    try:
        assert warm_up(insp) > 0
    finally:
        insp.close()
    assert ("missing label", False) in seen  # the early path, no model
    assert any(ran for _, ran in seen)  # the model path
