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
) -> tuple[int, int, int, int] | None:
    """The exact box of the largest blob in the full-size pixels around a coarse box."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = box
    x0, y0 = max(0, x0 - step), max(0, y0 - step)
    x1, y1 = min(w, x1 + step), min(h, y1 + step)
    patch = to_gray(image[y0:y1, x0:x1])
    blobs = _blobs(cv2.morphologyEx(_mask(patch, spec), cv2.MORPH_OPEN, _OPEN))
    if not blobs:
        return None
    _, (bx0, by0, bx1, by1) = max(blobs, key=lambda b: b[0])
    return x0 + bx0, y0 + by0, x0 + bx1, y0 + by1


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
    # Areas on the small copy are compared in source pixels, with slack for the coarse
    # count; the refined box decides.
    scale_area = sx * sy
    m = spec.edge_margin
    parts: list[Part] = []
    for area, (bx0, by0, bx1, by1) in sorted(_blobs(mask), key=lambda b: -b[0]):
        if area * scale_area < spec.min_area * 0.5 or area * scale_area > spec.max_area * 2:
            continue
        coarse = (
            math.floor(bx0 * sx),
            math.floor(by0 * sy),
            math.ceil(bx1 * sx),
            math.ceil(by1 * sy),
        )
        fine = _refine(image, coarse, math.ceil(max(sx, sy)) + 1, spec) if step > 1 else coarse
        if fine is None:
            continue
        x0, y0, x1, y1 = fine
        if not spec.min_area <= area * scale_area <= spec.max_area:
            continue
        complete = x0 >= m and y0 >= m and x1 <= w - m and y1 <= h - m
        parts.append(Part((float(x0), float(y0), float(x1), float(y1)), complete))
        if len(parts) >= spec.max_parts:
            break
    parts.sort(key=lambda p: (p.box[0], p.box[1]))
    return parts
