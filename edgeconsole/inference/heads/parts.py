"""Parts on a conveyor: bright blobs on a dark belt, each judged by the text on its label.

Verdicts (PartVerdict.reason): ``ok`` (upright text), ``rotated 180`` (the text reads
upside down), ``unreadable`` (a label is there, or faint/tiny text, but nothing
readable: a smudged label), ``missing label`` (no label and no text).

Whether a label is there is judged from the image, not the text model: a bare part is
smooth (body colour and lighting gradients only), a label adds edges, print and grime.
Text regions taller than ``max_text_fraction`` of the part are not text lines (the
detector sometimes fires on a whole blank label or panel) and count for nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from edgeconsole.core.errors import ConfigError
from edgeconsole.core.frames import Part
from edgeconsole.inference.roi import label_structure

Box = tuple[float, float, float, float]

_KERNEL = cv2.getStructuringElement(cv2.MORPH_RECT, (5, 5))


@dataclass(frozen=True, slots=True)
class PartsConfig:
    min_area: float = 2000.0  # source pixels
    max_area: float = 400000.0
    belt_threshold: int = 90  # gray level separating parts from the belt
    edge_margin: int = 4  # parts closer than this to the frame edge are not judged
    weak_score: float = 0.3  # text regions scoring at least this count as (faint) text
    min_text_height: float = 6.0  # source pixels; smaller regions are not readable text
    label_contrast: float = 25.0  # gray levels above the part's body that count as label
    min_label_fraction: float = 0.03  # share of the part's interior that must be label
    max_text_fraction: float = 0.4  # a text line is at most this share of the part's height

    FIELDS = frozenset(
        {
            "min_area",
            "max_area",
            "belt_threshold",
            "edge_margin",
            "weak_score",
            "min_text_height",
            "label_contrast",
            "min_label_fraction",
            "max_text_fraction",
        }
    )

    @classmethod
    def parse(cls, obj: Any, where: str = "head.parts") -> PartsConfig:
        if obj is None or obj is True:
            return cls()
        if not isinstance(obj, dict):
            raise ConfigError(f"{where} must be an object")
        unknown = sorted(set(obj) - cls.FIELDS)
        if unknown:
            raise ConfigError(
                f"unknown field(s) {', '.join(unknown)} in {where}",
                hint=f"allowed: {', '.join(sorted(cls.FIELDS))}",
            )
        values: dict[str, Any] = {}
        for key, value in obj.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ConfigError(f"{where}.{key} must be a non-negative number")
            values[key] = value
        cfg = cls(**values)
        if cfg.max_area <= cfg.min_area:
            raise ConfigError(f"{where}.max_area must be larger than min_area")
        if not 0 <= cfg.belt_threshold <= 255:
            raise ConfigError(f"{where}.belt_threshold must be a gray level 0..255")
        return cfg


def find_parts(image_bgr: np.ndarray, cfg: PartsConfig) -> list[Part]:
    """Bright blobs (parts) against the dark belt, left to right."""
    gray = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY) if image_bgr.ndim == 3 else image_bgr
    _, mask = cv2.threshold(gray, cfg.belt_threshold, 255, cv2.THRESH_BINARY)
    # Opening removes specks of belt texture; closing bridges a label's dark print.
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, _KERNEL)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, _KERNEL)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    h, w = gray.shape[:2]
    m = cfg.edge_margin
    parts = []
    for c in contours:
        area = cv2.contourArea(c)
        if not cfg.min_area <= area <= cfg.max_area:
            continue
        x, y, bw, bh = cv2.boundingRect(c)
        complete = x >= m and y >= m and x + bw <= w - m and y + bh <= h - m
        parts.append(Part((float(x), float(y), float(x + bw), float(y + bh)), complete))
    parts.sort(key=lambda p: (p.box[0], p.box[1]))
    return parts


@dataclass(frozen=True, slots=True)
class TextEvidence:
    centre: tuple[float, float]
    height: float  # short side, source pixels
    area: float
    score: float
    rotated: bool
    strong: bool  # scored at least the head's box_threshold


def label_present(gray: np.ndarray, box: Box, cfg: PartsConfig) -> bool:
    """Is there a label (print, paper edge, grime) on the part, readable or not?"""
    return label_structure(gray, box, cfg.label_contrast) >= cfg.min_label_fraction


def judge(
    evidence: list[TextEvidence], cfg: PartsConfig, has_label: bool = False
) -> tuple[bool, str, float]:
    """(passed, reason, score) for one part from the text found on it."""
    readable = [e for e in evidence if e.strong and e.height >= cfg.min_text_height]
    if readable:
        total = sum(e.area for e in readable)
        rotated = sum(e.area for e in readable if e.rotated)
        if rotated * 2 > total:
            return False, "rotated 180", rotated / total
        return True, "ok", (total - rotated) / total
    if evidence:
        return False, "unreadable", max(e.score for e in evidence)
    if has_label:
        return False, "unreadable", 0.0
    return False, "missing label", 1.0


def inside(box: Box, point: tuple[float, float]) -> bool:
    return box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]
