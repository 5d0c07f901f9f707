from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence

import numpy as np
import pytest

from edgeconsole.core.errors import ConfigError, ModelError
from edgeconsole.core.frames import PartVerdict
from edgeconsole.core.parts import MISSED, Box, PartDecision, TriggerEvent
from edgeconsole.inference.line import PartLine, TriggerConfig, TriggerLine
from edgeconsole.sources.conveyor import ConveyorScene
from tests.inference.line.helpers import (
    PERIOD_NS,
    CameraClock,
    ClassicalJudge,
    frames,
    truth_id_at,
)

W, H = 640, 360


def scene(**kw: object) -> ConveyorScene:
    return ConveyorScene(seed=kw.pop("seed", 5), fps=30, width=W, height=H, **kw)  # type: ignore[arg-type]


CLOCK = CameraClock()


def mk(judge: ClassicalJudge, trig: TriggerConfig | None = None, **kw: object) -> PartLine:
    """A line on the camera clock of ``frames(..., clock=CLOCK)``."""
    return PartLine(judge, trig or TriggerConfig(), clock=CLOCK, **kw)  # type: ignore[arg-type]


def fr(sc: ConveyorScene, indices: Sequence[int], t0: int = 1_000_000_000):  # type: ignore[no-untyped-def]
    return frames(sc, indices, t0, clock=CLOCK)


def run(
    line: PartLine, sc: ConveyorScene, indices: Sequence[int]
) -> dict[int, tuple[PartDecision, int | None]]:
    """Step every frame; map each decision to the scene's part id on its frame."""
    out: dict[int, tuple[PartDecision, int | None]] = {}
    CLOCK.t = 0
    for f in fr(sc, indices):
        step = line.step(f)
        for d in step.decisions:
            assert d.part_id not in out, f"part {d.part_id} decided twice"
            out[d.part_id] = (d, truth_id_at(f, d.box))
    for d in line.finish():
        out[d.part_id] = (d, None)
    return out


def test_every_crossing_part_is_decided_once_on_its_crossing_frame() -> None:
    sc = scene(parts_per_min=300)
    judge = ClassicalJudge()
    line = mk(judge, TriggerConfig(), budget_ms=1000.0)
    got = run(line, sc, range(240))
    truth = {k: (hit, label) for k, hit, label in sc.crossings(W / 2, range(240))}
    assert len(truth) >= 30
    by_truth = {tid: d for d, tid in got.values()}
    assert len(by_truth) == len(got), "two tracks decided the same physical part"
    assert set(by_truth) == set(truth)
    for tid, (hit, label) in truth.items():
        d = by_truth[tid]
        assert abs(d.trigger_frame - hit) <= 1, (tid, d.trigger_frame, hit)
        assert d.verdict == ("missing label" if label == "missing" else "ok"), (tid, label)
        assert d.trigger == "line" and d.decision_ms >= 0
        assert d.late is (d.decision_ms > 1000.0)  # late by the budget, never by the clock
    c = line.counters
    assert (c.decided, c.missed, c.triggered) == (len(truth), 0, len(truth))
    # Parts decided on one frame go to the inspector as one batch.
    assert sum(judge.decide_calls) == len(truth)


def test_stopped_belt_with_a_part_on_the_line_keeps_ids_and_decides_once() -> None:
    base = scene(parts_per_min=200)
    k, hit, _ = base.crossings(W / 2, range(200))[2]
    sc = scene(parts_per_min=200, stops=((hit, 90),))  # the part stands on the line for 3 s
    line = mk(ClassicalJudge(), TriggerConfig())
    got = run(line, sc, range(300))
    truth = {kk for kk, _, _ in sc.crossings(W / 2, range(300))}
    by_truth = Counter(tid for _, tid in got.values())
    assert set(by_truth) == truth and max(by_truth.values()) == 1
    assert k in by_truth
    seen_ids = set()
    for f in fr(sc, range(300)):
        seen_ids |= {p["id"] for p in f.truth["parts"]} if f.truth else set()
    # No track churn while the belt stood: about one track per physical part.
    assert line.counters.tracks <= len(seen_ids) + 2


def test_dropped_frames_still_decide_every_part_once() -> None:
    sc = scene(parts_per_min=300)
    line = mk(ClassicalJudge(), TriggerConfig())
    got = run(line, sc, range(0, 240, 2))
    truth = {k: hit for k, hit, _ in sc.crossings(W / 2, range(240))}
    by_truth = {tid: d for d, tid in got.values()}
    assert set(by_truth) == set(truth)
    for tid, hit in truth.items():
        assert abs(by_truth[tid].trigger_frame - hit) <= 2


def test_parts_crossing_in_a_long_gap_are_counted_missed() -> None:
    sc = scene(parts_per_min=300)
    line = mk(ClassicalJudge(), TriggerConfig())
    before = list(fr(sc, range(0, 51)))
    for f in before:
        line.step(f)
    last = before[-1]
    assert last.truth is not None
    pending = set()
    for p in last.truth["parts"]:
        x0, _, x1, _ = p["box"]
        if p["complete"] and (x0 + x1) / 2 < W / 2:
            pending.add(p["id"])
    assert pending
    missed: list[PartDecision] = []
    for f in fr(sc, range(120, 200)):
        missed += [d for d in line.step(f).decisions if d.missed]
    missed_truth = {truth_id_at(last, d.box) for d in missed}
    assert missed_truth == pending
    assert all("did not see" in d.note and d.verdict == MISSED for d in missed)
    assert line.counters.missed == len(pending)


def test_touching_and_overlapping_parts_get_one_decision_each() -> None:
    sc = scene(parts_per_min=240, overlap=0.5, seed=9)
    line = mk(ClassicalJudge(), TriggerConfig())
    got = run(line, sc, range(400))
    truth = {k for k, _, _ in sc.crossings(W / 2, range(400))}
    by_truth = Counter(tid for d, tid in got.values() if not d.missed)
    assert max(by_truth.values()) == 1, "a physical part was decided twice"
    found = set(by_truth) & truth
    assert found == truth, sorted(truth - found)
    assert any(d.note.startswith("split") for d, _ in got.values())


def test_external_trigger_decides_the_part_at_the_eye() -> None:
    sc = scene(parts_per_min=300)
    line = mk(ClassicalJudge(), TriggerConfig.parse("external"))
    truth = sc.crossings(W / 2, range(1, 200))
    t0 = 1_000_000_000
    events = [
        TriggerEvent(t0 + hit * PERIOD_NS - 10_000_000, "serial:///dev/eye", seq)
        for seq, (_, hit, _) in enumerate(truth)
    ]
    dropped = events.pop(5)  # an edge lost on the wire: the seq gap shows it
    events.append(TriggerEvent(t0 + 3 * PERIOD_NS, "serial:///dev/eye", None))  # nothing there
    events.sort(key=lambda e: e.stamp_ns)
    unmatched: list[tuple[TriggerEvent, str]] = []
    line.on_unmatched = lambda ev, why: unmatched.append((ev, why))
    got: dict[int, int | None] = {}
    decisions: list[PartDecision] = []
    pending = list(events)
    last = None
    for f in fr(sc, range(200), t0):
        while pending and pending[0].stamp_ns < f.captured_ns:
            line.trigger(pending.pop(0))
            for d in line.poll_triggers():
                assert last is not None and d.decided_frame == last.index
                got[d.part_id] = truth_id_at(last, d.box)
                decisions.append(d)
        step = line.step(f)
        last = f
        for d in step.decisions:
            got[d.part_id] = truth_id_at(f, d.box)
        decisions += step.decisions
    decisions += line.finish()
    decided = [d for d in decisions if not d.missed]
    assert all(d.trigger == "external" and d.trigger_source == "serial:///dev/eye" for d in decided)
    want = {k for k, _, _ in truth} - {truth[5][0]}
    assert {got[d.part_id] for d in decided} == want
    for d in decided:
        assert d.decision_ms >= 10.0  # from the edge to the next frame and its judging
    c = line.counters
    assert c.triggers == len(events) and c.triggers_unmatched == 1 and c.triggers_lost == 1
    # The sender of the edge that found no part is told at once, with the reason.
    ((ev, why),) = unmatched
    assert ev in events and why.startswith("no undecided part at the line in frame ")
    # The part whose edge was lost crossed with no edge: counted missed, not forgotten.
    assert [d.note for d in decisions if d.missed] == ["crossed the line but no trigger edge came"]
    assert dropped.seq == 5


def test_external_edge_nearest_the_previous_frame_is_judged_on_it_at_once() -> None:
    sc = scene(parts_per_min=300)
    line = mk(ClassicalJudge(), TriggerConfig.parse("external"))
    truth = sc.crossings(W / 2, range(1, 100))
    _, hit, _ = truth[0]
    t0 = 1_000_000_000
    for f in fr(sc, range(hit + 1), t0):
        assert line.step(f).decisions == []
    line.trigger(TriggerEvent(t0 + hit * PERIOD_NS + 2_000_000, "eye"))
    ds = line.poll_triggers()
    assert len(ds) == 1 and ds[0].decided_frame == hit and ds[0].trigger_frame == hit


def test_periodic_trigger_decides_each_part_in_view_once() -> None:
    sc = scene(parts_per_min=120)
    line = mk(ClassicalJudge(), TriggerConfig.parse("periodic:500ms"))
    got = run(line, sc, range(300))
    ids = Counter(tid for d, tid in got.values() if not d.missed)
    assert ids and max(ids.values()) == 1
    assert all(d.trigger == "periodic" for d, _ in got.values())
    assert line.counters.ticks_skipped == 0


def test_frame_trigger_is_one_part_per_frame_and_an_empty_frame_is_missed() -> None:
    sc = scene(parts_per_min=120)
    line = mk(ClassicalJudge(), TriggerConfig.parse("frame"))
    fs = list(fr(sc, range(3)))
    empty = fs[0].__class__(
        index=3, image=np.full((H, W, 3), 30, np.uint8), captured_ns=5, source="t"
    )
    out = [line.step(f).decisions for f in [*fs, empty]]
    assert [len(d) for d in out] == [1, 1, 1, 1]
    assert [d[0].part_id for d in out] == [1, 2, 3, 4]
    assert out[3][0].missed and out[3][0].note == "no part in the triggered frame"
    assert not out[0][0].missed


def test_trigger_line_outside_the_frame_is_refused_with_the_size() -> None:
    line = mk(ClassicalJudge(), TriggerConfig(line=TriggerLine(pixels=2000)))
    f = next(fr(scene(), [0]))
    with pytest.raises(ConfigError, match=r"x=2000 px is outside the 640x360 frame"):
        line.step(f)


def test_a_failing_model_leaves_missed_records_then_raises() -> None:
    class Broken(ClassicalJudge):
        def decide(
            self, image: np.ndarray, boxes: Sequence[Box], stamps: dict[str, int] | None = None
        ) -> list[PartVerdict]:
            raise ModelError("inference failed: out of memory")

    seen: list[PartDecision] = []
    line = mk(Broken(), TriggerConfig(), on_decision=seen.append)
    with pytest.raises(ModelError):
        for f in fr(scene(parts_per_min=300), range(100)):
            line.step(f)
    assert seen and all(d.missed and "out of memory" in d.note for d in seen)
    assert line.counters.missed == len(seen)


def test_a_decision_over_budget_is_late() -> None:
    line = mk(ClassicalJudge(), TriggerConfig(), budget_ms=1e-6)
    got = run(line, scene(parts_per_min=300), range(60))
    assert got and all(d.late for d, _ in got.values())
    assert line.counters.late == len(got)
    assert all(d.to_json()["late"] is True for d, _ in got.values())


def test_triggers_from_many_threads_are_all_counted() -> None:
    line = mk(ClassicalJudge(), TriggerConfig.parse("external"))
    fs = list(fr(scene(parts_per_min=300), range(20)))
    go = threading.Event()

    def fire(n: int) -> None:
        go.wait()
        for i in range(250):
            line.trigger(TriggerEvent(10**15 + i, f"t{n}", None))

    threads = [threading.Thread(target=fire, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    go.set()
    for f in fs:
        line.step(f)
    for t in threads:
        t.join()
    told: list[str] = []
    line.on_unmatched = lambda ev, why: told.append(why)
    line.finish()
    assert line.counters.triggers == 1000 and line.counters.triggers_unmatched == 1000
    # Every edge's sender hears why it found no part (none is left waiting forever).
    assert told == ["the run ended before a frame came for it"] * 1000


def test_moving_the_line_takes_effect_on_the_next_frame() -> None:
    sc = scene(parts_per_min=300)
    line = mk(ClassicalJudge(), TriggerConfig())
    got_a = run(mk(ClassicalJudge(), TriggerConfig.parse("line:x=0.25")), sc, range(120))
    fs = fr(sc, range(120))
    line.set_trigger(TriggerConfig.parse("line:x=0.25"))
    frames_at = [d.trigger_frame for f in fs for d in line.step(f).decisions]
    assert sorted(frames_at) == sorted(d.trigger_frame for d, _ in got_a.values())
