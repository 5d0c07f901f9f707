"""The label finder's counting shortcuts give exactly what the plain numpy forms give.

``roi.py`` counts with OpenCV histograms and sums, and takes ``label_structure``'s
medians in integers, to cut the decision path's cost (issue 12). A verdict must not
change for it: each function here is held, value for value, to the straightforward
numpy form it replaced (np.bincount, boolean indexing, np.median), on random arrays
of every parity of size and on the conveyor's own parts.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from edgeconsole.inference.partspec import RoiSpec
from edgeconsole.inference.roi import (
    clip_box,
    find_label,
    label_structure,
    percentile_u8,
    sub_box,
    text_lines,
)
from edgeconsole.sources.conveyor import ConveyorScene

Box = tuple[float, float, float, float]
ROI = RoiSpec(method="label")


def ref_percentile(values: np.ndarray, q: float) -> float:
    counts = np.bincount(values.ravel(), minlength=256)
    total = int(counts.sum())
    if total == 0:
        return 0.0
    rank = max(1, math.ceil(total * q / 100.0))
    return float(np.searchsorted(np.cumsum(counts), rank))


def ref_label_structure(gray: np.ndarray, box: Box, contrast: float) -> float:
    x0, y0, x1, y1 = (round(v) for v in box)
    w, h = x1 - x0, y1 - y0
    m = max(3, round(0.04 * min(w, h)))
    if w <= 6 * m or h <= 6 * m:
        return 0.0
    inner = gray[y0 + 2 * m : y1 - 2 * m, x0 + 2 * m : x1 - 2 * m].astype(np.float32)
    if inner.size == 0:
        return 0.0
    residual = inner - np.median(inner, axis=1, keepdims=True)
    residual -= np.median(residual, axis=0, keepdims=True)
    return float(np.count_nonzero(np.abs(residual) > contrast)) / residual.size


def ref_text_lines(gray: np.ndarray, box: Box, max_lines: int) -> list[Box]:
    h, w = gray.shape[:2]
    px = clip_box((box[0] + 2, box[1] + 2, box[2] - 2, box[3] - 2), w, h)
    if px is None or px[2] - px[0] < 8 or px[3] - px[1] < 8:
        return []
    x0, y0, x1, y1 = px
    region = gray[y0:y1, x0:x1]
    level, _ = cv2.threshold(region, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    ink = region < level
    n_ink = int(np.count_nonzero(ink))
    if n_ink == 0 or n_ink == ink.size:
        return []
    paper_sum = float(region.sum(dtype=np.int64))
    ink_sum = float(region[ink].sum(dtype=np.int64))
    if (paper_sum - ink_sum) / (ink.size - n_ink) - ink_sum / n_ink < 50.0:
        return []
    rows = np.count_nonzero(ink, axis=1) >= max(2, 0.02 * region.shape[1])
    if not rows.any():
        return []
    edges = np.flatnonzero(np.diff(np.concatenate(([0], rows.astype(np.int8), [0]))))
    lines: list[tuple[int, Box]] = []
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        height = int(b - a)
        if height < 0.12 * region.shape[0]:
            continue
        cols = np.flatnonzero(ink[a:b].any(axis=0))
        pad, vpad = 0.25 * height, 0.2 * height
        lines.append(
            (
                int(cols[-1] - cols[0]),
                (
                    max(0.0, x0 + cols[0] - pad),
                    max(0.0, y0 + a - vpad),
                    min(float(w), x0 + cols[-1] + 1 + pad),
                    min(float(h), y0 + b + vpad),
                ),
            )
        )
    lines.sort(key=lambda t: -t[0])
    return [b for _, b in lines[:max_lines]]


def ref_find_label(gray: np.ndarray, part: tuple[int, int, int, int], spec: RoiSpec) -> Box | None:
    px0, py0, px1, py1 = part
    pw, ph = px1 - px0, py1 - py0
    sx0, sy0, sx1, sy1 = clip_box(sub_box((px0, py0, px1, py1), spec.box), *gray.shape[::-1]) or (
        0,
        0,
        0,
        0,
    )
    if sx1 - sx0 < 8 or sy1 - sy0 < 8:
        return None
    region = gray[sy0:sy1, sx0:sx1]
    paper = ref_percentile(region[::2, ::2], 97)
    _, mask = cv2.threshold(region, paper - spec.contrast, 255, cv2.THRESH_BINARY)
    k = max(3, round(min(pw, ph) * 0.04)) | 1
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((k, k), np.uint8))
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    areas = [cv2.contourArea(c) for c in contours]
    best = int(np.argmax(areas))
    bx, by, bw, bh = cv2.boundingRect(contours[best])
    area = areas[best]
    frac = bw * bh / float(pw * ph)
    if not spec.min_fraction <= frac <= spec.max_fraction or area < 0.6 * bw * bh:
        return None
    x0, y0, x1, y1 = sx0 + bx, sy0 + by, sx0 + bx + bw, sy0 + by + bh
    inset = max(2, round(0.03 * min(pw, ph)))
    if x0 < px0 + inset or y0 < py0 + inset or x1 > px1 - inset or y1 > py1 - inset:
        return None
    ring = max(2, round(0.05 * min(pw, ph)))
    outer = gray[
        max(py0, y0 - ring) : min(py1, y1 + ring), max(px0, x0 - ring) : min(px1, x1 + ring)
    ]
    inner = gray[y0:y1, x0:x1]
    ring_sum = float(outer.sum(dtype=np.int64)) - float(inner.sum(dtype=np.int64))
    ring_n = outer.size - inner.size
    if ring_n <= 0:
        return None
    inside_level = ref_percentile(inner[mask[by : by + bh, bx : bx + bw] > 0], 50)
    if inside_level - ring_sum / ring_n < spec.contrast:
        return None
    return float(x0), float(y0), float(x1), float(y1)


@pytest.mark.parametrize("seed", [1, 2])
def test_the_counting_forms_equal_numpys_on_random_arrays(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for i in range(300):
        h, w = (int(v) for v in rng.integers(1, 50, 2))
        a = rng.integers(0, 256, (h, w), dtype=np.uint8)
        if i % 3 == 0:  # few distinct levels: ties at the percentile
            a = (a // 64 * 64).astype(np.uint8)
        q = float(rng.uniform(0, 100))
        assert percentile_u8(a, q) == ref_percentile(a, q)
        assert percentile_u8(a[::2, ::2], q) == ref_percentile(a[::2, ::2], q)
        mask = (rng.random((h, w)) < 0.5).astype(np.uint8) * 255
        assert percentile_u8(a, q, mask) == ref_percentile(a[mask > 0], q)
        g = rng.integers(0, 256, (h + 40, w + 40), dtype=np.uint8)
        if i % 2:
            g = cv2.GaussianBlur(g, (0, 0), 3)
        whole = (0.0, 0.0, float(w + 40), float(h + 40))
        # 2.9999999999 rounds to 3.0 in float32: np.median's residual compares in float32.
        for contrast in (25.0, 7.3, 2.9999999999, 1.0):
            assert label_structure(g, whole, contrast) == ref_label_structure(g, whole, contrast)
        inset = (float(rng.integers(0, 10)), float(rng.integers(0, 10)), w + 30.0, h + 30.0)
        assert text_lines(g, inset, 3) == ref_text_lines(g, inset, 3)


def test_the_counting_forms_equal_numpys_on_the_conveyors_parts() -> None:
    checked = {"parts": 0, "labels": 0, "lines": 0}
    for seed, overlap in ((11, 0.0), (4, 0.5)):
        scene = ConveyorScene(seed=seed, parts_per_min=600, overlap=overlap)
        for i in range(0, 120, 3):
            img, truth = scene.render(i)
            gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
            for p in truth["parts"]:
                box = clip_box(tuple(float(v) for v in p["box"]), gray.shape[1], gray.shape[0])
                if box is None:
                    continue
                fbox = tuple(float(v) for v in box)
                checked["parts"] += 1
                for contrast in (25.0, 12.0):
                    assert label_structure(gray, fbox, contrast) == ref_label_structure(
                        gray, fbox, contrast
                    )
                label = find_label(gray, box, ROI)
                assert label == ref_find_label(gray, box, ROI)
                if label is None:
                    continue
                checked["labels"] += 1
                for k in (1, 3):
                    lines = text_lines(gray, label, k)
                    assert lines == ref_text_lines(gray, label, k)
                    checked["lines"] += len(lines)
    # The scene exercised every branch: bare parts, labels, and text on them.
    assert checked["parts"] > 100 and checked["labels"] > 50 and checked["lines"] > 50, checked
