"""The belt timing model agrees with the frames the conveyor camera draws."""

from __future__ import annotations

import pytest

from edgeconsole.core.errors import ConfigError
from edgeconsole.sources.belt import BeltTiming
from edgeconsole.sources.conveyor import ConveyorScene


@pytest.mark.parametrize(("size", "ppm"), [((1280, 720), None), ((640, 360), 600.0)])
def test_crossing_times_match_the_rendered_parts(size: tuple[int, int], ppm: float | None) -> None:
    w, h = size
    fps = 30.0
    scene = ConveyorScene(seed=3, fps=fps, width=w, height=h, parts_per_min=ppm)
    belt = scene.belt
    line = w / 2
    checked = 0
    prev: dict[int, float] = {}
    for index in range(0, 150):
        _, truth = scene.render(index)
        centres = {
            p["id"]: (p["box"][0] + p["box"][2]) / 2 for p in truth["parts"] if p["complete"]
        }
        for pid, cx in centres.items():
            if pid in prev and prev[pid] < line <= cx:
                # The part crossed between frame index-1 and index: the model agrees
                # within one frame (plus the scene's pixel rounding).
                t = belt.crossing_s(pid, line)
                assert (index - 1) / fps - 1.5 / fps <= t <= index / fps + 1.5 / fps, (pid, t)
                checked += 1
        prev = centres
    assert checked >= 2
    if ppm is not None:
        assert belt.parts_per_min == pytest.approx(ppm, rel=0.02)


def test_first_part_after_is_the_next_crossing() -> None:
    belt = BeltTiming.for_frame(1280, 720, parts_per_min=600)
    for t in (0.0, 0.05, 1.0, 12.34):
        k = belt.first_part_after(t)
        assert belt.crossing_s(k) >= t - 1e-9
        assert k == 0 or belt.crossing_s(k - 1) < t


def test_rate_out_of_range_is_refused() -> None:
    with pytest.raises(ConfigError, match="parts/min"):
        BeltTiming.for_frame(1280, 720, parts_per_min=0)
