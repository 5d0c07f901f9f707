from __future__ import annotations

import hashlib
import threading
from collections import Counter

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
