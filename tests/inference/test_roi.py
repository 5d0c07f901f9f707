"""Regions of interest: the classical label finder, text lines, and combining line verdicts."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edgeconsole.inference.part_judges import combine
from edgeconsole.inference.partspec import RoiSpec
from edgeconsole.inference.roi import (
    clip_box,
    find_label,
    label_structure,
    percentile_u8,
    sharpness,
    text_lines,
)
from edgeconsole.sources.conveyor import PartSpec, render_sprite

ROI = RoiSpec(method="label")


def _part(state: str, seed: int = 7) -> tuple[np.ndarray, list[int] | None]:
    """One conveyor part on belt, at the camera's scale, with its label box."""
    spec = PartSpec(
        id=seed,
        label=state,  # type: ignore[arg-type]
        text="" if state == "missing" else "LOT 4711-K\nEXP 2027-08",
        tint=(184, 206, 220),
        dy=0,
        label_dx=5,
        label_dy=-4,
    )
    sprite, label = render_sprite(spec, seed, 1.0)
    img = np.full((sprite.shape[0] + 40, sprite.shape[1] + 40, 3), (38, 36, 34), np.uint8)
    img[20:-20, 20:-20] = sprite
    box = None if label is None else [label[0] + 20, label[1] + 20, label[2] + 20, label[3] + 20]
    return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), box


PART = (20, 20, 280, 200)


@pytest.mark.parametrize("state", ["upright", "rotated"])
def test_the_label_is_found_to_a_few_pixels(state: str) -> None:
    gray, truth = _part(state)
    found = find_label(gray, PART, ROI)
    assert found is not None and truth is not None
    assert all(abs(a - b) <= 3 for a, b in zip(found, truth, strict=True)), (found, truth)


def test_no_label_on_a_bare_part_but_structure_on_a_smudged_one() -> None:
    bare, _ = _part("missing")
    smudged, _ = _part("smudged")
    assert find_label(bare, PART, ROI) is None
    assert label_structure(bare, PART, 25) < 0.03 <= label_structure(smudged, PART, 25)


def test_a_lit_band_of_a_bare_part_is_not_a_label() -> None:
    gray = np.full((220, 300), 30, np.uint8)
    gray[20:200, 20:280] = np.linspace(235, 180, 180, dtype=np.uint8)[:, None]  # top-lit
    assert find_label(gray, PART, ROI) is None


@pytest.mark.parametrize("state", ["upright", "rotated"])
def test_two_text_lines_on_a_label(state: str) -> None:
    gray, label = _part(state)
    assert label is not None
    lines = text_lines(gray, tuple(float(v) for v in label), 4)  # type: ignore[arg-type]
    assert len(lines) == 2
    top, bottom = sorted(lines, key=lambda b: b[1])
    assert top[3] <= bottom[1] + 6  # two bands, one above the other (padding may touch)
    for x0, y0, x1, y1 in lines:
        assert label[0] <= x0 < x1 <= label[2] and label[1] <= y0 < y1 <= label[3]
        assert 20 <= y1 - y0 <= 45  # a line of ~24 px capitals, padded
    widest = text_lines(gray, tuple(float(v) for v in label), 1)  # type: ignore[arg-type]
    assert widest == [max(lines, key=lambda b: b[2] - b[0])]


def test_blank_paper_and_degenerate_regions_have_no_lines() -> None:
    rng = np.random.default_rng(1)
    paper = np.clip(rng.normal(240, 3, (120, 240)), 0, 255).astype(np.uint8)
    assert text_lines(paper, (0.0, 0.0, 240.0, 120.0), 4) == []
    assert text_lines(np.full((50, 50), 200, np.uint8), (0.0, 0.0, 50.0, 50.0), 2) == []
    assert text_lines(paper, (10.0, 10.0, 14.0, 14.0), 2) == []  # smaller than a line
    assert text_lines(paper, (500.0, 500.0, 600.0, 600.0), 2) == []  # outside


def test_clip_box() -> None:
    assert clip_box((-5.0, 2.2, 50.7, 300.0), 40, 30) == (0, 2, 40, 30)
    assert clip_box((10.0, 10.0, 10.0, 20.0), 40, 30) is None
    assert clip_box((float("nan"), 0.0, 5.0, 5.0), 40, 30) is None


def test_percentile_by_counting_matches_numpy() -> None:
    rng = np.random.default_rng(3)
    values = rng.integers(0, 256, 5000).astype(np.uint8)
    for q in (1, 50, 97, 100):
        assert percentile_u8(values, q) == float(np.percentile(values, q, method="inverted_cdf"))
    assert percentile_u8(np.zeros(0, np.uint8), 50) == 0.0


def test_sharpness_falls_with_blur() -> None:
    gray, _ = _part("upright")
    assert sharpness(cv2.GaussianBlur(gray, (0, 0), 4)) < 0.5 * sharpness(gray)
    assert sharpness(np.zeros((0, 0), np.uint8)) == 0.0


def test_combine_lets_one_clear_line_decide() -> None:
    # "LOT 8888" reads the same either way up; "EXP 2027" does not.
    probs = np.array([[0.55, 0.45], [0.999, 0.001]], np.float32)
    assert combine(probs).argmax() == 0 and combine(probs)[0] > 0.99
    disagree = np.array([[0.9, 0.1], [0.1, 0.9]], np.float32)
    assert combine(disagree)[0] == pytest.approx(0.5)
    single = np.array([[0.3, 0.7]], np.float32)
    assert combine(single).tolist() == pytest.approx([0.3, 0.7])
    # A zero probability does not make the product collapse to nothing.
    assert np.isfinite(combine(np.array([[0.0, 1.0], [1.0, 0.0]]))).all()
