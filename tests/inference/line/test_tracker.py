from __future__ import annotations

from edgeconsole.core.frames import Part
from edgeconsole.inference.line.tracker import PartTracker, TrackerConfig

W, H = 1000, 400


def boxes(*xs: float, w: float = 100.0, y: float = 150.0, h: float = 80.0) -> list[Part]:
    out = []
    for x in xs:
        x0, x1 = max(0.0, x), min(float(W), x + w)
        out.append(Part((x0, y, x1, y + h), x >= 1 and x + w <= W - 1))
    return out


def test_ids_follow_parts_entering_moving_and_leaving() -> None:
    t = PartTracker()
    ids: dict[int, set[int]] = {}
    for f in range(60):
        xs = [x for x in (-90 + 30 * f, -390 + 30 * f) if -100 < x < W]
        step = t.update(boxes(*xs), f, W, H)
        for tr, x in zip(
            sorted(step.seen, key=lambda s: -s.box[2]), sorted(xs, reverse=True), strict=True
        ):
            ids.setdefault(round(x - 30 * f), set()).add(tr.id)
    assert all(len(v) == 1 for v in ids.values()), ids
    assert t.next_id == 3
    # Velocity is the belt's, also measured while the box grew at the edge.
    assert t.tracks == [] or abs(t.tracks[0].velocity[0] - 30) < 1


def test_a_stopped_belt_keeps_every_id() -> None:
    t = PartTracker()
    for f in range(10):
        t.update(boxes(100 + 20 * f, 500 + 20 * f), f, W, H)
    for f in range(10, 200):
        step = t.update(boxes(300, 700), f, W, H)
        assert sorted(s.id for s in step.seen) == [1, 2]
    assert abs(t.tracks[0].velocity[0]) < 0.01


def test_a_part_unseen_for_a_few_frames_keeps_its_id() -> None:
    t = PartTracker(TrackerConfig(max_misses=5))
    for f in range(5):
        t.update(boxes(100 + 20 * f), f, W, H)
    for f in range(5, 9):
        assert t.update([], f, W, H).lost == []
    step = t.update(boxes(100 + 20 * 9), 9, W, H)
    assert [s.id for s in step.seen] == [1]
    assert t.update([], 20, W, H).lost[0].id == 1


def test_parts_that_touch_after_entering_are_split_by_their_tracks() -> None:
    t = PartTracker()
    for f in range(8):  # two parts, the one behind faster (pushed), closing the gap
        t.update(boxes(300 + 10 * f, 130 + 20 * f), f, W, H)
    # Now they touch and overlap by 20 px: one blob from 250 to 480.
    step = t.update([Part((250.0, 150.0, 480.0, 230.0), True)], 8, W, H)
    got = sorted((s.id, s.box[0], s.box[2], s.estimated) for s in step.seen)
    assert [g[0] for g in got] == [1, 2]
    assert all(g[3] for g in got)
    front = next(g for g in got if g[0] == 1)
    assert front[2] == 480.0 and abs(front[1] - 380.0) < 1


def test_a_merged_pair_arriving_together_is_cut_by_the_typical_length() -> None:
    t = PartTracker(TrackerConfig(part_length=100.0))
    step = t.update([Part((100.0, 150.0, 290.0, 230.0), True)], 0, W, H)
    assert len(step.born) == 2 and all(s.estimated for s in step.born)
    assert [round(s.box[0]) for s in sorted(step.born, key=lambda s: s.box[0])] == [100, 195]
    # Learned length: three single parts, then a blob twice as long.
    t = PartTracker()
    for f in range(3):
        t.update(boxes(100, 400, 700), f, W, H)
    step = t.update([*boxes(100, 400), Part((700.0, 150.0, 900.0, 230.0), True)], 3, W, H)
    assert len(step.seen) == 4


def test_degenerate_boxes_are_ignored() -> None:
    t = PartTracker()
    step = t.update([Part((5.0, 5.0, 5.0, 50.0), True), Part((9.0, 9.0, 3.0, 3.0), True)], 0, W, H)
    assert step.seen == []
