"""Find parts on a whole frame cheaply: a threshold on a small copy, refined at full size.

A 1280x720 frame is read at every ``downscale``-th pixel (nearest neighbour: no
filtering, about 0.1 ms), thresholded, opened to drop belt texture, and split into
connected components. Each blob's box is then refined on the full-size pixels
around it, so boxes are exact to the pixel while the search costs a sixteenth.
Parts are separated by their dark outline or the belt between them; a blob is
never merged with its neighbour by a closing step (two touching parts would
become one verdict).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from edgeconsole.core.errors import ModelShapeError
from edgeconsole.core.frames import Part
from edgeconsole.inference.partspec import LocateSpec

_OPEN = cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3))
#: A blob must span at least this many pixels of the small copy to be seen reliably.
_MIN_SMALL_PIXELS = 48
#: How often a refine window may widen to take in a blob it cuts.
_MAX_WIDEN = 6


def to_gray(image: np.ndarray) -> np.ndarray:
    """An 8-bit BGR, BGRA or gray image as one gray plane (no copy for gray)."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise ModelShapeError("an image must be an 8-bit array")
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    raise ModelShapeError(f"cannot read an image of shape {image.shape}")


def effective_step(spec: LocateSpec, shape: tuple[int, ...]) -> int:
    """The downscale actually used: never so coarse that the smallest part vanishes."""
    by_area = max(1, math.isqrt(int(spec.min_area / _MIN_SMALL_PIXELS)))
    by_size = max(1, min(shape[0], shape[1]) // 32)
    return max(1, min(spec.downscale, by_area, by_size))


def _mask(gray: np.ndarray, spec: LocateSpec) -> np.ndarray:
    kind = cv2.THRESH_BINARY if spec.polarity == "bright" else cv2.THRESH_BINARY_INV
    _, mask = cv2.threshold(gray, spec.threshold, 255, kind)
    return mask


def _blobs(mask: np.ndarray) -> list[tuple[float, tuple[int, int, int, int]]]:
    """(area, bounding box) of each outer blob of a binary mask.

    Outer contours, not connectedComponentsWithStats: the same answer for solid
    blobs at a tenth of the cost (about 0.03 ms against 0.5 ms on 320x180 here).
    """
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    out = []
    for c in contours:
        x, y, w, h = cv2.boundingRect(c)
        # A blob one pixel thin has no contour area; count its pixels' worth.
        out.append((max(float(cv2.contourArea(c)), float(len(c))), (x, y, x + w, y + h)))
    return out


def _refine(
    image: np.ndarray, box: tuple[int, int, int, int], step: int, spec: LocateSpec
) -> list[tuple[float, tuple[int, int, int, int]]]:
    """The exact blobs (area, box) in the full-size pixels around a coarse box.

    Every one, not only the largest: on the small copy a part's dark outline can be
    thinner than a pixel, so a part partly covered by the one ahead joins its blob
    there and only the full-size pixels tell the two apart. A blob the window cuts
    (not the frame edge) widens the window on that side and is looked at again, so a
    part's thin corner the small copy missed is not lost, and a neighbour reaching in
    is seen whole (and found again from its own coarse blob: the caller dedupes).
    """
    h, w = image.shape[:2]
    x0, y0 = max(0, box[0] - step), max(0, box[1] - step)
    x1, y1 = min(w, box[2] + step), min(h, box[3] + step)
    grow = max(16, 4 * step)
    for attempt in range(_MAX_WIDEN + 1):
        patch = to_gray(image[y0:y1, x0:x1])
        blobs = _blobs(cv2.morphologyEx(_mask(patch, spec), cv2.MORPH_OPEN, _OPEN))
        pw, ph = x1 - x0, y1 - y0
        left = any(b[0] == 0 for _, b in blobs) and x0 > 0
        top = any(b[1] == 0 for _, b in blobs) and y0 > 0
        right = any(b[2] == pw for _, b in blobs) and x1 < w
        bottom = any(b[3] == ph for _, b in blobs) and y1 < h
        if attempt == _MAX_WIDEN or not (left or top or right or bottom):
            break
        x0, y0 = max(0, x0 - grow * left), max(0, y0 - grow * top)
        x1, y1 = min(w, x1 + grow * right), min(h, y1 + grow * bottom)
    out = []
    for area, (bx0, by0, bx1, by1) in blobs:
        cut = (
            (bx0 == 0 and x0 > 0)
            or (by0 == 0 and y0 > 0)
            or (bx1 == pw and x1 < w)
            or (by1 == ph and y1 < h)
        )
        if not cut:  # still cut after widening: a blob larger than any part
            out.append((area, (x0 + bx0, y0 + by0, x0 + bx1, y0 + by1)))
    return out


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def locate_parts(image: np.ndarray, spec: LocateSpec) -> list[Part]:
    """Parts on a frame, left to right, in source pixels, each with its ``complete`` flag."""
    if not isinstance(image, np.ndarray) or image.ndim not in (2, 3) or image.size == 0:
        raise ModelShapeError("an image must be a non-empty H x W or H x W x C array")
    h, w = image.shape[:2]
    step = effective_step(spec, image.shape)
    small = image
    if step > 1:
        small = cv2.resize(
            image, (max(1, w // step), max(1, h // step)), interpolation=cv2.INTER_NEAREST
        )
    sx, sy = w / small.shape[1], h / small.shape[0]
    mask = cv2.morphologyEx(_mask(to_gray(small), spec), cv2.MORPH_OPEN, _OPEN)
    # Areas on the small copy are compared in source pixels with slack (a coarse count;
    # a blob there may be two parts); the full-size blobs decide.
    scale_area = sx * sy
    m = spec.edge_margin
    parts: list[Part] = []
    for area, (bx0, by0, bx1, by1) in sorted(_blobs(mask), key=lambda b: -b[0]):
        if area * scale_area < spec.min_area * 0.5 or area * scale_area > spec.max_area * 4:
            continue
        coarse = (
            math.floor(bx0 * sx),
            math.floor(by0 * sy),
            math.ceil(bx1 * sx),
            math.ceil(by1 * sy),
        )
        pad = math.ceil(max(sx, sy)) + 1
        fine = _refine(image, coarse, pad, spec) if step > 1 else [(area, coarse)]
        for fine_area, (x0, y0, x1, y1) in sorted(fine, key=lambda b: -b[0]):
            box = (float(x0), float(y0), float(x1), float(y1))
            if not spec.min_area <= fine_area <= spec.max_area:
                continue
            if any(_iou(box, p.box) > 0.5 for p in parts):
                continue  # the same part, reached from a neighbouring coarse blob
            complete = x0 >= m and y0 >= m and x1 <= w - m and y1 <= h - m
            parts.append(Part(box, complete))
            if len(parts) >= spec.max_parts:
                break
        if len(parts) >= spec.max_parts:
            break
    parts.sort(key=lambda p: (p.box[0], p.box[1]))
    return parts
