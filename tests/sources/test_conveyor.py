from __future__ import annotations

import hashlib
import threading
from collections import Counter
from itertools import pairwise

import numpy as np
import pytest

from edgeconsole.core.errors import ConfigError
from edgeconsole.sources.conveyor import (
    LABEL_STATES,
    ConveyorScene,
    SyntheticConveyorSource,
    part_spec,
    render_part,
)


def digest(seed: int, n: int = 12, **kw: int) -> str:
    h = hashlib.sha256()
    src = SyntheticConveyorSource(seed=seed, realtime=False, frames=n, **kw)
    while (f := src.read()) is not None:
        h.update(f.image.tobytes())
        h.update(repr(f.truth).encode())
    return h.hexdigest()


def test_same_seed_same_frames() -> None:
    assert digest(3) == digest(3)
    assert digest(3) != digest(4)
    assert digest(3, width=640, height=360) == digest(3, width=640, height=360)


def test_frames_and_truth() -> None:
    src = SyntheticConveyorSource(seed=1, realtime=False, frames=90)
    seen: dict[int, str] = {}
    n = 0
    while (f := src.read()) is not None:
        assert f.image.shape == (720, 1280, 3) and f.image.dtype == np.uint8
        assert f.index == n and f.source == src.name
        assert f.truth is not None
        for p in f.truth["parts"]:
            x0, y0, x1, y1 = p["box"]
            assert 0 <= x0 < x1 <= 1280 and 0 <= y0 < y1 <= 720
            assert p["label"] in LABEL_STATES
            if p["label"] == "missing":
                assert p["label_box"] is None and p["text"] == ""
            elif p["label_box"] is not None:
                lx0, ly0, lx1, ly1 = p["label_box"]
                assert x0 <= lx0 < lx1 <= x1 and y0 <= ly0 < ly1 <= y1
                assert p["text"].startswith("LOT ") and "\nEXP 20" in p["text"]
            if p["complete"]:
                assert x1 - x0 == 260 and y1 - y0 == 180
            assert seen.setdefault(p["id"], p["label"]) == p["label"]  # stable per part
        n += 1
    assert n == 90 and src.state == "ended"
    assert len(seen) >= 4


def test_parts_move_right() -> None:
    scene = ConveyorScene(seed=0)
    _, t0 = scene.render(0)
    _, t1 = scene.render(10)
    x0 = {p["id"]: p["box"][2] for p in t0["parts"]}
    x1 = {p["id"]: p["box"][2] for p in t1["parts"]}
    common = [k for k in x0 if k in x1 and x0[k] < 1280 and x1[k] < 1280]
    assert common and all(x1[k] > x0[k] for k in common)


def test_upright_label_has_dark_text_and_missing_has_none() -> None:
    scene = ConveyorScene(seed=0)
    image, truth = scene.render(40)
    for p in truth["parts"]:
        if p["complete"] and p["label"] == "upright":
            x0, y0, x1, y1 = p["label_box"]
            patch = image[y0:y1, x0:x1].mean(axis=2)
            assert (patch < 80).mean() > 0.05  # text strokes
            assert (patch > 200).mean() > 0.4  # white label


def test_label_mix_matches_weights() -> None:
    counts = Counter(part_spec(0, k).label for k in range(4000))
    assert counts["upright"] / 4000 == pytest.approx(0.60, abs=0.04)
    assert counts["rotated"] / 4000 == pytest.approx(0.15, abs=0.03)
    assert counts["missing"] / 4000 == pytest.approx(0.15, abs=0.03)
    assert counts["smudged"] / 4000 == pytest.approx(0.10, abs=0.03)


def test_render_part() -> None:
    for state in LABEL_STATES:
        a = render_part(state, 5)
        assert a.shape == (240, 320, 3) and a.dtype == np.uint8
        assert np.array_equal(a, render_part(state, 5))
    assert render_part("upright", 1, size=(64, 96)).shape == (64, 96, 3)
    up, rot = render_part("upright", 2), render_part("rotated", 2)
    assert not np.array_equal(up, rot)
    with pytest.raises(ConfigError):
        render_part("sideways", 0)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        render_part("upright", 0, size=(4, 4))


def test_bad_parameters() -> None:
    with pytest.raises(ConfigError):
        SyntheticConveyorSource(width=10, height=10)
    with pytest.raises(ConfigError):
        SyntheticConveyorSource(fps=0)
    with pytest.raises(ConfigError):
        SyntheticConveyorSource(frames=-1)


def test_close_unblocks_realtime_read() -> None:
    src = SyntheticConveyorSource(fps=0.1, width=128, height=72)
    assert src.read() is not None
    started = threading.Event()
    out: list[object] = []

    def reader() -> None:
        started.set()
        out.append(src.read())

    t = threading.Thread(target=reader)
    t.start()
    assert started.wait(5)
    src.close()
    t.join(5)
    assert not t.is_alive() and out == [None]


def _centre_x(scene: ConveyorScene, index: int, part_id: int) -> float | None:
    _, truth = scene.render(index)
    for p in truth["parts"]:
        if p["id"] == part_id:
            return (p["box"][0] + p["box"][2]) / 2
    return None


def test_crossings_name_the_first_frame_a_centre_is_past_the_line() -> None:
    scene = ConveyorScene(seed=4, width=640, height=360, parts_per_min=300)
    got = scene.crossings(320.0, range(0, 120))
    assert len(got) >= 15
    assert [k for k, _, _ in got] == list(range(got[0][0], got[0][0] + len(got)))
    for k, hit, label in got[:6]:
        assert label == part_spec(4, k).label
        now, before = _centre_x(scene, hit, k), _centre_x(scene, hit - 1, k)
        assert now is not None and now >= 320.0
        assert before is None or before < 320.0


def test_rate_overlap_and_stops() -> None:
    base = ConveyorScene(seed=2, width=640, height=360, parts_per_min=600)
    assert abs(base.speed_px_frame * 30 * 60 / base.pitch - 600) < 1
    touching = ConveyorScene(seed=2, width=640, height=360, parts_per_min=300, overlap=0.6)
    off = touching.belt.offset_of
    gaps = [off(k + 1) - off(k) for k in range(64)]
    assert min(gaps) < touching.part_w <= max(gaps)
    # Pairs, not chains: no two overlapping gaps in a row.
    assert not any(a < touching.pitch and b < touching.pitch for a, b in pairwise(gaps))
    stopped = ConveyorScene(seed=2, width=640, height=360, parts_per_min=300, stops=((10, 20),))
    assert round(stopped.travel(10)) == round(stopped.travel(30)) < round(stopped.travel(31))
    _, truth_a = stopped.render(12)
    _, truth_b = stopped.render(25)
    assert [p["box"] for p in truth_a["parts"]] == [p["box"] for p in truth_b["parts"]]
    with pytest.raises(ConfigError, match="more than its own length"):
        ConveyorScene(fps=5, parts_per_min=3000)
    with pytest.raises(ConfigError, match="overlap"):
        ConveyorScene(overlap=1.5)
    with pytest.raises(ConfigError, match="stops"):
        ConveyorScene(stops=((-1, 5),))


def test_clock_belt_is_the_same_belt_in_every_reader() -> None:
    a = SyntheticConveyorSource(seed=3, fps=50, width=320, height=180, belt_clock=True)
    b = SyntheticConveyorSource(seed=3, fps=50, width=320, height=180, belt_clock=True)
    try:
        fa = a.read()
        fb = b.read()
        assert fa is not None and fb is not None and fa.truth and fb.truth
        # Whatever tick each read landed on, both draw the one belt of the clock.
        image, _ = a.scene.render(fb.truth["scene_frame"])
        assert np.array_equal(image, fb.image)
        assert fa.capture_started_ns == fa.truth["scene_frame"] * round(1e9 / 50)
        assert fa.index == 0
        f2 = a.read()
        assert f2 is not None and f2.index == f2.truth["scene_frame"] - fa.truth["scene_frame"]
    finally:
        a.close()
        b.close()


def test_factory_reads_the_line_options() -> None:
    from edgeconsole.sources.factory import open_source

    src = open_source("synthetic:conveyor?ppm=300&overlap=0.2&stop_at=5&stop_frames=9&fps=60")
    assert isinstance(src, SyntheticConveyorSource)
    d = src.describe()
    assert d["parts_per_min"] == 300 and d["overlap"] == 0.2 and d["stops"] == [[5, 9]]
    for bad in ("ppm=0", "ppm=abc", "overlap=2", "stop_frames=-1", "clock=3", "ppm=nan"):
        with pytest.raises(ConfigError):
            open_source(f"synthetic:conveyor?{bad}")
