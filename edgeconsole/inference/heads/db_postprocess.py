"""Differentiable Binarization (DB) post-processing, as the PP-OCR text detector needs.

Follows PaddleOCR's ``DBPostProcess`` (Apache-2.0; as shipped in RapidOCR): threshold
the probability map, take contours, score each box by the mean probability inside
it, fit a minimum-area rectangle and grow it ("unclip") by
``area * unclip_ratio / perimeter``. The polygon offset is computed here instead of
with pyclipper: for a convex polygon (the fitted rectangle always is) the round-joined
offset is exactly the polygon swept by a disc, whose vertices we generate directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

_DILATE = np.ones((2, 2), dtype=np.uint8)
_ARC_STEPS = 8  # points per rounded corner; the min-area rectangle only needs the extremes


@dataclass(frozen=True, slots=True)
class Region:
    """A text region in probability-map coordinates."""

    quad: np.ndarray  # (4, 2) float32, clockwise from top-left
    score: float  # mean probability inside the unexpanded box
    short_side: float


def order_quad(points: np.ndarray) -> np.ndarray:
    """Four points as top-left, top-right, bottom-right, bottom-left (PaddleOCR's order)."""
    pts = points[np.argsort(points[:, 0], kind="stable")]
    left = pts[:2][np.argsort(pts[:2, 1], kind="stable")]
    right = pts[2:][np.argsort(pts[2:, 1], kind="stable")]
    return np.array([left[0], right[0], right[1], left[1]], dtype=np.float32)


def mini_box(points: np.ndarray) -> tuple[np.ndarray, float]:
    rect = cv2.minAreaRect(points.reshape(-1, 1, 2).astype(np.float32))
    return order_quad(cv2.boxPoints(rect)), float(min(rect[1]))


def box_score(prob: np.ndarray, quad: np.ndarray) -> float:
    """Mean probability inside the quad (PaddleOCR's "fast" score)."""
    h, w = prob.shape
    x0 = int(np.clip(np.floor(quad[:, 0].min()), 0, w - 1))
    x1 = int(np.clip(np.ceil(quad[:, 0].max()), 0, w - 1))
    y0 = int(np.clip(np.floor(quad[:, 1].min()), 0, h - 1))
    y1 = int(np.clip(np.ceil(quad[:, 1].max()), 0, h - 1))
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), dtype=np.uint8)
    shifted = (quad - np.array([x0, y0], dtype=np.float32)).astype(np.int32)
    cv2.fillPoly(mask, [shifted.reshape(-1, 1, 2)], 1)
    return float(cv2.mean(prob[y0 : y1 + 1, x0 : x1 + 1], mask)[0])


def offset_convex(polygon: np.ndarray, distance: float) -> np.ndarray:
    """Grow a convex polygon by ``distance`` with round joins (Minkowski sum with a disc)."""
    poly = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    if distance <= 0 or len(poly) < 3:
        return poly
    # Make the winding counter-clockwise in a y-down image so outward normals point out.
    area2 = np.sum(poly[:, 0] * np.roll(poly[:, 1], -1) - np.roll(poly[:, 0], -1) * poly[:, 1])
    if area2 < 0:
        poly = poly[::-1]
    edges = np.roll(poly, -1, axis=0) - poly
    lengths = np.linalg.norm(edges, axis=1)
    keep = lengths > 1e-9
    poly, edges, lengths = poly[keep], edges[keep], lengths[keep]
    if len(poly) < 3:
        centre = poly.mean(axis=0) if len(poly) else np.zeros(2)
        t = np.linspace(0, 2 * np.pi, 4 * _ARC_STEPS, endpoint=False)
        return centre + distance * np.stack([np.cos(t), np.sin(t)], axis=1)
    normals = np.stack([edges[:, 1], -edges[:, 0]], axis=1) / lengths[:, None]
    # Around vertex i the offset sweeps from the normal of edge i-1 to that of edge i.
    a_prev = np.arctan2(np.roll(normals, 1, axis=0)[:, 1], np.roll(normals, 1, axis=0)[:, 0])
    a_next = np.arctan2(normals[:, 1], normals[:, 0])
    sweep = (a_next - a_prev) % (2 * np.pi)
    t = np.linspace(0.0, 1.0, _ARC_STEPS)
    angles = a_prev[:, None] + sweep[:, None] * t[None, :]
    pts = poly[:, None, :] + distance * np.stack([np.cos(angles), np.sin(angles)], axis=2)
    out: np.ndarray = pts.reshape(-1, 2)
    return out


def unclip(quad: np.ndarray, ratio: float) -> np.ndarray:
    contour = quad.reshape(-1, 1, 2).astype(np.float32)
    perimeter = cv2.arcLength(contour, True)
    if perimeter <= 0:
        return quad.astype(np.float64)
    distance = cv2.contourArea(contour) * ratio / perimeter
    return offset_convex(quad, distance)


def regions_from_probability(
    prob: np.ndarray,
    *,
    threshold: float = 0.3,
    min_score: float = 0.5,
    min_size: int = 3,
    unclip_ratio: float = 1.6,
    max_candidates: int = 1000,
    dilate: bool = True,
) -> list[Region]:
    """Text regions with mean probability ≥ ``min_score``, in map coordinates."""
    bitmap: np.ndarray = (prob > threshold).astype(np.uint8)
    if dilate:
        bitmap = cv2.dilate(bitmap, _DILATE)
    contours, _ = cv2.findContours(bitmap, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    regions: list[Region] = []
    for contour in contours[:max_candidates]:
        quad, short = mini_box(contour)
        if short < min_size:
            continue
        score = box_score(prob, quad)
        if score < min_score:
            continue
        grown, short = mini_box(unclip(quad, unclip_ratio))
        if short < min_size + 2:
            continue
        regions.append(Region(quad=grown, score=score, short_side=short))
    return regions
