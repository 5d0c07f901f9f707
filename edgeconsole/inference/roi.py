"""The region of a part a model looks at: the whole part, a fixed share of it, or its label.

The label finder is classical and cheap (a fraction of a millisecond on a 260x180
part): a label is paper, the brightest large region of the part. Pixels within
``contrast`` gray levels of the brightest paper level are candidates; a closing
fills the print; the largest candidate blob is the label when it covers
``min_fraction``..``max_fraction`` of the part, is rectangular, does not run into
the part's outline (a lit-up band of a bare part does), and is at least
``contrast`` brighter than the part around it.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from edgeconsole.inference.partspec import RoiSpec

Box = tuple[float, float, float, float]

#: Share of the label's bounding box its blob must fill (print holes are closed first).
_MIN_FILL = 0.6
#: The label must stay this share of the part's size away from the part's outline.
_INSET = 0.03


def clip_box(box: Box, width: int, height: int) -> tuple[int, int, int, int] | None:
    """A float box as integer pixel bounds inside the image, or None when it is empty."""
    if not all(math.isfinite(v) for v in box):
        return None
    x0 = max(0, min(width, math.floor(box[0])))
    y0 = max(0, min(height, math.floor(box[1])))
    x1 = max(0, min(width, math.ceil(box[2])))
    y1 = max(0, min(height, math.ceil(box[3])))
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def sub_box(part: Box, frac: tuple[float, float, float, float]) -> Box:
    """``frac`` (fractions of the part's box) in source pixels."""
    x0, y0, x1, y1 = part
    w, h = x1 - x0, y1 - y0
    return (x0 + frac[0] * w, y0 + frac[1] * h, x0 + frac[2] * w, y0 + frac[3] * h)


def grow(box: Box, margin: float) -> Box:
    """Grow a box by ``margin`` times its height on every side."""
    d = margin * (box[3] - box[1])
    return (box[0] - d, box[1] - d, box[2] + d, box[3] + d)


def percentile_u8(values: np.ndarray, q: float, mask: np.ndarray | None = None) -> float:
    """The ``q``-th percentile (nearest rank) of 8-bit values (where ``mask`` is nonzero,
    if given), by counting: OpenCV's histogram reads a strided view or a masked
    region without numpy's copy (a fifth of np.percentile's cost, a third of
    np.bincount's, on a few thousand pixels)."""
    if values.size == 0:
        return 0.0
    if values.ndim == 1:
        values = values[:, None]
    counts = cv2.calcHist([values], [0], mask, [256], [0, 256]).ravel().astype(np.int64)
    total = int(counts.sum())
    if total == 0:
        return 0.0
    rank = max(1, math.ceil(total * q / 100.0))
    return float(np.searchsorted(np.cumsum(counts), rank))


def _sum_u8(a: np.ndarray) -> float:
    """The exact sum of 8-bit values (OpenCV adds them in integers: no float rounding)."""
    return float(cv2.sumElems(a)[0]) if a.size else 0.0


def find_label(gray: np.ndarray, part: tuple[int, int, int, int], spec: RoiSpec) -> Box | None:
    """The label's box in source pixels inside ``part`` (integer bounds), or None."""
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
    # The paper level: a high percentile, not the maximum (noise and glints).
    paper = percentile_u8(region[::2, ::2], 97)
    _, mask = cv2.threshold(region, paper - spec.contrast, 255, cv2.THRESH_BINARY)
    k = max(3, round(min(pw, ph) * 0.04)) | 1
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((k, k), np.uint8))
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    areas = [cv2.contourArea(c) for c in contours]
    best = max(range(len(areas)), key=areas.__getitem__)  # the first largest, as np.argmax
    bx, by, bw, bh = cv2.boundingRect(contours[best])
    area = areas[best]  # the outline's area: holes (print) count, so this is rectangularity
    frac = bw * bh / float(pw * ph)
    if not spec.min_fraction <= frac <= spec.max_fraction or area < _MIN_FILL * bw * bh:
        return None
    x0, y0, x1, y1 = sx0 + bx, sy0 + by, sx0 + bx + bw, sy0 + by + bh
    inset = max(2, round(_INSET * min(pw, ph)))
    if x0 < px0 + inset or y0 < py0 + inset or x1 > px1 - inset or y1 > py1 - inset:
        return None  # runs into the outline: a lit band of the part, not a label on it
    # Contrast against a ring of the part around the label.
    ring = max(2, round(0.05 * min(pw, ph)))
    outer = gray[
        max(py0, y0 - ring) : min(py1, y1 + ring), max(px0, x0 - ring) : min(px1, x1 + ring)
    ]
    inner = gray[y0:y1, x0:x1]
    ring_sum = _sum_u8(outer) - _sum_u8(inner)
    ring_n = outer.size - inner.size
    if ring_n <= 0:
        return None
    inside_level = percentile_u8(inner, 50, mask[by : by + bh, bx : bx + bw])
    if inside_level - ring_sum / ring_n < spec.contrast:
        return None
    return float(x0), float(y0), float(x1), float(y1)


def sharpness(gray: np.ndarray) -> float:
    """Mean absolute Laplacian (gray levels): how much crisp edge a region holds."""
    if gray.size == 0:
        return 0.0
    lap = cv2.Laplacian(gray, cv2.CV_16S, ksize=1)
    return float(np.abs(lap).mean())


def label_structure(gray: np.ndarray, box: Box, contrast: float) -> float:
    """Share of a part's interior that a label's structure (print, edges, grime) covers.

    A bare part is smooth: its body colour plus lighting gradients. The interior
    (outline and a margin excluded) is detrended by removing each row's and then each
    column's median, which takes out gradients, tape strips and the body colour; what
    is left over ``contrast`` gray levels is structure that a label brings.
    """
    x0, y0, x1, y1 = (round(v) for v in box)
    w, h = x1 - x0, y1 - y0
    m = max(3, round(0.04 * min(w, h)))
    if w <= 6 * m or h <= 6 * m:
        return 0.0
    inner = gray[y0 + 2 * m : y1 - 2 * m, x0 + 2 * m : x1 - 2 * m]
    if inner.size == 0:
        return 0.0
    # Medians in integers, exactly as np.median's (the mean of the two middle values
    # of an even count: a multiple of 1/2, then of 1/4 after the column pass), scaled
    # by 4 to stay integral, and sorted as 16-bit rows (numpy's vectorised sort where
    # the CPU has one; the column pass on a transposed copy): a sixth of np.median's
    # cost, which was 0.7-1.3 ms a part, the largest stage of a missing label's decision.
    h, w = inner.shape
    wide = inner.astype(np.int16)
    rows = np.sort(wide, axis=1)
    twice = 2 * wide - (rows[:, (w - 1) // 2] + rows[:, w // 2])[:, None]
    cols = np.sort(np.ascontiguousarray(twice.T), axis=1)
    four = 2 * twice - (cols[:, (h - 1) // 2] + cols[:, h // 2])
    # np.median's float32 residual compared with a Python float compares in float32.
    limit = 4.0 * float(np.float32(contrast))
    return float(np.count_nonzero(np.abs(four) > limit)) / int(four.size)


#: A text line is at least this share of the region's height (smaller bands are specks).
_MIN_LINE = 0.12
#: Print is at least this much darker than its paper (gray levels).
_MIN_INK_CONTRAST = 50.0


def text_lines(gray: np.ndarray, box: Box, max_lines: int) -> list[Box]:
    """Printed text lines (dark ink on paper) in ``box``, widest first, padded a little.

    Otsu's threshold splits ink from paper inside the region (its outer 2 px, where a
    label's printed border sits, are left out); rows holding ink form bands; each band
    of at least ``_MIN_LINE`` of the region's height is a line, its width the columns
    that hold ink. Axis-aligned: the parts ride the belt square to the camera.
    """
    h, w = gray.shape[:2]
    px = clip_box((box[0] + 2, box[1] + 2, box[2] - 2, box[3] - 2), w, h)
    if px is None or px[2] - px[0] < 8 or px[3] - px[1] < 8:
        return []
    x0, y0, x1, y1 = px
    region = gray[y0:y1, x0:x1]
    level, _ = cv2.threshold(region, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    # Ink: pixels under Otsu's level, as 0/1 bytes (OpenCV sums and reduces them
    # without numpy's boolean indexing, the most of this function's cost).
    _, ink = cv2.threshold(region, math.ceil(level) - 1, 1, cv2.THRESH_BINARY_INV)
    n_ink = cv2.countNonZero(ink)
    if n_ink == 0 or n_ink == ink.size:
        return []
    paper_sum = _sum_u8(region)
    ink_sum = _sum_u8(cv2.multiply(region, ink))
    ink_mean = ink_sum / n_ink
    paper_mean = (paper_sum - ink_sum) / (ink.size - n_ink)
    if paper_mean - ink_mean < _MIN_INK_CONTRAST:
        return []  # blank paper: Otsu split its noise, not print from paper
    counts = cv2.reduce(ink, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel()
    rows = counts >= max(2, 0.02 * region.shape[1])
    if not rows.any():
        return []
    edges = np.flatnonzero(np.diff(np.concatenate(([0], rows.astype(np.int8), [0]))))
    lines: list[tuple[int, Box]] = []
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        height = int(b - a)
        if height < _MIN_LINE * region.shape[0]:
            continue
        cols = np.flatnonzero(ink[a:b].max(axis=0))
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
