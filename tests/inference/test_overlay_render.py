from __future__ import annotations

import time

import numpy as np

from edgeconsole.core.frames import InferenceResult, OverlayBanner, OverlayBox
from edgeconsole.inference.overlay_render import PALETTE, render_overlay


def _near(px: np.ndarray, colour: tuple[int, int, int], tol: int = 40) -> bool:
    return bool(np.abs(px.astype(int) - colour).max() <= tol)


def test_draws_boxes_polygons_labels_and_banner_without_touching_the_input() -> None:
    img = np.zeros((360, 640, 3), np.uint8)
    result = InferenceResult(
        0,
        overlay=[
            OverlayBox((100, 100, 200, 200), "ok", "ok", thick=True),
            OverlayBox((300, 100, 400, 200), "fail", "missing label", thick=True),
            OverlayBox(
                (450, 120, 560, 150),
                "text",
                polygon=((450, 120), (560, 120), (560, 150), (450, 150)),
            ),
            OverlayBanner("PASS 1 / FAIL 1", "fail"),
        ],
    )
    out = render_overlay(img, result)
    assert img.max() == 0 and out.shape == img.shape and out is not img
    assert _near(out[150, 100], PALETTE["ok"][0])  # left edge of the ok box
    assert _near(out[150, 300], PALETTE["fail"][0])
    assert _near(out[135, 450], PALETTE["text"][0])
    # The label tag sits above the box, filled with the role colour.
    tag = out[80:99, 300:330].reshape(-1, 3)
    assert any(_near(p, PALETTE["fail"][0], 10) for p in tag)
    # The banner at the top left has a dark background and coloured text.
    banner = out[0:30, 0:200].reshape(-1, 3)
    assert any(_near(p, (32, 32, 32), 2) for p in banner)
    assert any(_near(p, PALETTE["fail"][0], 30) for p in banner)


def test_nothing_to_draw_and_gray_frames() -> None:
    img = np.full((50, 80, 3), 7, np.uint8)
    np.testing.assert_array_equal(render_overlay(img, None), img)
    np.testing.assert_array_equal(render_overlay(img, InferenceResult(0)), img)
    gray = np.zeros((50, 80), np.uint8)
    out = render_overlay(gray, InferenceResult(0, overlay=[OverlayBox((5, 5, 40, 40), "info")]))
    assert out.shape == (50, 80, 3) and out.max() > 0


def test_labels_at_the_frame_edge_stay_inside() -> None:
    img = np.zeros((100, 100, 3), np.uint8)
    r = InferenceResult(0, overlay=[OverlayBox((90, 0, 99, 10), "warn", "a long label text")])
    out = render_overlay(img, r)
    assert out.shape == img.shape and out[:, :, :].max() > 0


def test_fast_enough_for_a_pipeline_stage() -> None:
    img = np.zeros((720, 1280, 3), np.uint8)
    items = [
        OverlayBox((x, 200, x + 250, 380), "ok", "ok", thick=True) for x in range(0, 1200, 300)
    ]
    items += [
        OverlayBox(
            (x, 250, x + 100, 270),
            "text",
            polygon=((x, 250), (x + 100, 250), (x + 100, 270), (x, 270)),
        )
        for x in range(0, 1200, 150)
    ]
    r = InferenceResult(0, overlay=[*items, OverlayBanner("PASS 4 / FAIL 0", "ok")])
    render_overlay(img, r)
    t0 = time.perf_counter()
    for _ in range(10):
        render_overlay(img, r)
    per_frame_ms = (time.perf_counter() - t0) * 100
    print(f"render_overlay 1280x720, {len(items)} items: {per_frame_ms:.2f} ms")  # not asserted
