"""Draw overlay primitives onto a BGR image with OpenCV (headless runs, recordings, reports).

The window draws the same primitives itself with QPainter, so the palette here
mirrors the UI's roles: ok green, fail red, warn amber, info cyan, text white.
Kept cheap: one copy of the frame and direct cv2 drawing, no per-item blending.
"""

from __future__ import annotations

import cv2
import numpy as np

from edgeconsole.core.frames import InferenceResult, OverlayBanner, OverlayBox, Role

#: BGR colours per role, and the text colour that reads on a label filled with it.
PALETTE: dict[Role, tuple[tuple[int, int, int], tuple[int, int, int]]] = {
    "ok": ((90, 200, 60), (0, 0, 0)),
    "fail": ((60, 60, 235), (255, 255, 255)),
    "warn": ((0, 180, 255), (0, 0, 0)),
    "info": ((235, 205, 40), (0, 0, 0)),
    "text": ((245, 245, 245), (0, 0, 0)),
}
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_BANNER_BG = (32, 32, 32)


def _label(
    img: np.ndarray, text: str, x: int, y: int, role: Role, scale: float, thickness: int
) -> None:
    """Text on a filled tag whose bottom-left sits at (x, y), kept inside the image."""
    fill, ink = PALETTE[role]
    (tw, th), base = cv2.getTextSize(text, _FONT, scale, thickness)
    pad = max(2, int(th * 0.3))
    h, w = img.shape[:2]
    x = int(min(max(0, x), max(0, w - tw - 2 * pad)))
    y = int(min(max(th + base + 2 * pad, y), h))
    cv2.rectangle(img, (x, y - th - base - 2 * pad), (x + tw + 2 * pad, y), fill, cv2.FILLED)
    cv2.putText(img, text, (x + pad, y - base - pad), _FONT, scale, ink, thickness, cv2.LINE_AA)


def render_overlay(image_bgr: np.ndarray, result: InferenceResult | None) -> np.ndarray:
    """A copy of the image with the result's overlay drawn on it."""
    img = image_bgr.copy() if image_bgr.ndim == 3 else cv2.cvtColor(image_bgr, cv2.COLOR_GRAY2BGR)
    if result is None or not result.overlay:
        return img
    h = img.shape[0]
    unit = max(1.0, h / 720.0)  # sizes are tuned at 720p and scale with the frame
    scale = 0.5 * unit
    thin = max(1, round(unit))
    thick = max(2, round(3 * unit))
    text_thickness = max(1, round(unit))
    banners: list[OverlayBanner] = []
    for item in result.overlay:
        if isinstance(item, OverlayBanner):
            banners.append(item)
            continue
        assert isinstance(item, OverlayBox)
        colour = PALETTE[item.role][0]
        width = thick if item.thick else thin
        if item.polygon is not None and len(item.polygon) >= 2:
            pts = np.round(np.asarray(item.polygon, dtype=np.float64)).astype(np.int32)
            cv2.polylines(img, [pts.reshape(-1, 1, 2)], True, colour, width, cv2.LINE_AA)
        else:
            x0, y0, x1, y1 = (round(v) for v in item.box)
            cv2.rectangle(img, (x0, y0), (x1, y1), colour, width, cv2.LINE_AA)
        if item.label:
            _label(
                img,
                item.label,
                round(item.box[0]),
                round(item.box[1]) - width,
                item.role,
                scale,
                text_thickness,
            )
    y = 0
    for banner in banners:
        fill, _ = PALETTE[banner.role]
        bscale = 0.8 * unit
        bthick = max(1, round(2 * unit))
        (tw, th), base = cv2.getTextSize(banner.text, _FONT, bscale, bthick)
        pad = int(8 * unit)
        cv2.rectangle(img, (0, y), (tw + 2 * pad, y + th + base + 2 * pad), _BANNER_BG, cv2.FILLED)
        cv2.rectangle(img, (0, y), (int(4 * unit), y + th + base + 2 * pad), fill, cv2.FILLED)
        cv2.putText(img, banner.text, (pad, y + pad + th), _FONT, bscale, fill, bthick, cv2.LINE_AA)
        y += th + base + 2 * pad
    return img
