"""Heads on hand-made output arrays (the engine tests run them through real models)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeconsole.core.errors import ConfigError, ModelShapeError
from edgeconsole.core.frames import InferenceResult, OverlayBanner, OverlayBox
from edgeconsole.inference.heads import HeadContext, make_head
from edgeconsole.inference.heads.db_postprocess import (
    mini_box,
    offset_convex,
    order_quad,
    regions_from_probability,
    unclip,
)
from edgeconsole.inference.heads.detect import nms
from edgeconsole.inference.heads.parts import PartsConfig, TextEvidence, find_parts, judge
from edgeconsole.inference.preprocess import Geometry
from edgeconsole.inference.spec import ModelSpec


def model_spec(head: dict, outputs: list[str] | None = None) -> ModelSpec:
    return ModelSpec.parse(
        {
            "name": "t",
            "model": "m.onnx",
            "inputs": [{"name": "x", "dtype": "float32", "shape": [1, 3, -1, -1]}],
            "outputs": [
                {"name": n, "dtype": "float32", "shape": [1, -1]} for n in (outputs or ["out"])
            ],
            "head": head,
        },
        None,
    )


def test_offset_of_a_rectangle_grows_each_side_by_the_distance() -> None:
    rect = np.array([[10, 10], [50, 10], [50, 30], [10, 30]], np.float64)
    for poly in (rect, rect[::-1]):  # either winding
        grown = offset_convex(poly, 5.0)
        box, short = mini_box(grown)
        assert short == pytest.approx(30.0, abs=0.2)
        np.testing.assert_allclose(box[0], [5, 5], atol=0.2)
        np.testing.assert_allclose(box[2], [55, 35], atol=0.2)
        # Round joins: every offset point is exactly 5 px from the rectangle.
        d = [
            cv2.pointPolygonTest(
                rect.astype(np.float32).reshape(-1, 1, 2), (float(x), float(y)), True
            )
            for x, y in grown
        ]
        np.testing.assert_allclose(d, -5.0, atol=1e-3)


def test_unclip_distance_is_area_times_ratio_over_perimeter() -> None:
    rect = np.array([[0, 0], [100, 0], [100, 20], [0, 20]], np.float32)
    _, short = mini_box(unclip(rect, 1.5))
    d = 100 * 20 * 1.5 / 240
    assert short == pytest.approx(20 + 2 * d, abs=0.2)


def test_order_quad() -> None:
    pts = np.array([[10, 20], [0, 0], [10, 0], [0, 20]], np.float32)
    np.testing.assert_array_equal(order_quad(pts), [[0, 0], [10, 0], [10, 20], [0, 20]])


def test_db_regions_from_a_probability_map() -> None:
    prob = np.zeros((100, 200), np.float32)
    prob[20:30, 20:120] = 0.9  # a text line
    prob[60:70, 20:60] = 0.4  # a faint one
    prob[80:81, 150:151] = 1.0  # a speck
    regions = regions_from_probability(prob, threshold=0.3, min_score=0.5)
    assert len(regions) == 1
    r = regions[0]
    assert 0.75 < r.score <= 0.9  # the dilated contour adds a thin rim of zeros
    xs, ys = r.quad[:, 0], r.quad[:, 1]
    assert xs.min() < 20 and xs.max() > 120 and ys.min() < 20 and ys.max() > 30  # unclipped
    faint = regions_from_probability(prob, threshold=0.3, min_score=0.3)
    assert len(faint) == 2
    assert len(regions_from_probability(prob, max_candidates=0)) == 0


def test_text_detect_head_maps_regions_to_source_pixels() -> None:
    head = make_head(model_spec({"type": "text-detect", "threshold": 0.3, "box_threshold": 0.5}))
    prob = np.zeros((1, 1, 64, 128), np.float32)
    prob[0, 0, 10:20, 10:90] = 0.95
    # The source was 256 x 128, shrunk by half into the top-left of a 64 x 128 input.
    geo = Geometry((128, 256), (64, 128), 0.5, 0.5)
    img = np.zeros((128, 256, 3), np.uint8)
    result = InferenceResult(0)
    extras = head.decode(HeadContext({"out": prob}, prob, img, geo), result)
    assert len(result.detections) == 1
    d = result.detections[0]
    assert d.kind == "text" and d.polygon is not None and len(d.polygon) == 4
    x0, y0, x1, y1 = d.box
    # Map box 10..90 x 10..20, grown by ~7 px (unclip 1.6), then doubled into the source.
    assert 2 < x0 < 10 and 185 < x1 < 200 and 2 < y0 < 10 and 48 < y1 < 60
    overlay = head.overlay(result, extras)
    assert any(isinstance(o, OverlayBox) and o.polygon is not None for o in overlay)
    assert any(isinstance(o, OverlayBanner) and o.text == "1 text regions" for o in overlay)
    with pytest.raises(ModelShapeError, match="probability map"):
        head.decode(
            HeadContext({"out": np.zeros((1, 1, 1, 2, 2))}, prob, img, geo), InferenceResult(0)
        )


def test_text_detect_needs_the_orientation_model_when_described() -> None:
    orient = {
        "name": "o",
        "model": "cls.onnx",
        "inputs": [{"name": "x", "dtype": "float32", "shape": [-1, 3, 48, 192]}],
        "outputs": [{"name": "p", "dtype": "float32", "shape": [-1, 2]}],
        "preprocess": {"resize": "pad", "size": [48, 192]},
        "head": {"type": "classify", "labels": ["0", "180"]},
    }
    with pytest.raises(ConfigError, match="not loaded"):
        make_head(model_spec({"type": "text-detect", "orientation": orient}))


def test_classify_head_topk_and_threshold_banner() -> None:
    head = make_head(
        model_spec(
            {
                "type": "classify",
                "labels": ["a", "b", "c"],
                "top_k": 2,
                "threshold": 0.9,
                "softmax": True,
            }
        )
    )
    r = InferenceResult(0)
    head.decode(HeadContext({"out": np.array([[1.0, 3.0, 2.0]], np.float32)}, np.zeros(1)), r)
    assert r.classification is not None
    assert [k for k, _ in r.classification.topk] == ["b", "c"]
    e = np.exp([1.0, 3.0, 2.0])
    assert r.classification.score == pytest.approx(e[1] / e.sum(), rel=1e-5)
    (banner,) = head.overlay(r)
    assert isinstance(banner, OverlayBanner) and banner.role == "warn" and "below" in banner.text


def test_nms_and_detect_head() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], np.float32)
    keep = nms(boxes, np.array([0.9, 0.8, 0.7]), 0.5)
    assert keep.tolist() == [0, 2]
    head = make_head(
        model_spec(
            {"type": "detect", "labels": ["bolt", "nut"], "threshold": 0.5, "iou_threshold": 0.5}
        )
    )
    rows = np.array(
        [
            [
                [0, 0, 10, 10, 0.9, 0],
                [1, 1, 11, 11, 0.8, 0],
                [1, 1, 11, 11, 0.85, 1],
                [50, 50, 60, 60, 0.2, 1],
            ]
        ],
        np.float32,
    )
    geo = Geometry((200, 200), (100, 100), 0.5, 0.5)
    r = InferenceResult(0)
    head.decode(HeadContext({"out": rows}, rows, np.zeros((200, 200, 3), np.uint8), geo), r)
    assert [(d.label, round(d.score, 2)) for d in r.detections] == [("bolt", 0.9), ("nut", 0.85)]
    assert r.detections[0].box == pytest.approx((0, 0, 20, 20))
    with pytest.raises(ModelShapeError, match="expected 6"):
        head.decode(HeadContext({"out": np.zeros((1, 3, 5), np.float32)}, rows), r)
    with pytest.raises(ConfigError, match="format"):
        make_head(model_spec({"type": "detect", "format": "cxcywh"}))


def test_anomaly_head_config_errors() -> None:
    with pytest.raises(ConfigError, match="threshold"):
        make_head(model_spec({"type": "anomaly"}))
    with pytest.raises(ConfigError, match="score"):
        make_head(model_spec({"type": "anomaly", "threshold": 1.0, "score": "l1"}))


@pytest.mark.parametrize(
    ("obj", "match"),
    [
        ({"min_area": 10, "bogus": 1}, "unknown field"),
        ({"min_area": -1}, "non-negative"),
        ({"min_area": "big"}, "non-negative"),
        ({"min_area": 100, "max_area": 50}, "larger than min_area"),
        ({"belt_threshold": 300}, "gray level"),
        ([1, 2], "must be an object"),
    ],
)
def test_parts_config_is_strict(obj: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        PartsConfig.parse(obj)


def _ev(score: float, rotated: bool = False, height: float = 20.0) -> TextEvidence:
    return TextEvidence((0, 0), height, 100.0 * height, score, rotated, score >= 0.5)


def test_judge_verdicts() -> None:
    cfg = PartsConfig()
    assert judge([_ev(0.9), _ev(0.8)], cfg)[:2] == (True, "ok")
    assert judge([_ev(0.9, True), _ev(0.8, True)], cfg)[:2] == (False, "rotated 180")
    assert judge([_ev(0.9, True), _ev(0.8, False)], cfg)[1] == "ok"  # a tie is not a fail
    assert judge([], cfg)[:2] == (False, "missing label")
    assert judge([], cfg, has_label=True)[:2] == (False, "unreadable")
    assert judge([_ev(0.35)], cfg)[1] == "unreadable"  # faint text only
    assert judge([_ev(0.9, height=3.0)], cfg)[1] == "unreadable"  # too small to read


def test_find_parts_on_a_dark_belt() -> None:
    img = np.full((200, 400, 3), 30, np.uint8)
    cv2.rectangle(img, (20, 50), (120, 150), (200, 200, 200), -1)
    cv2.rectangle(img, (300, 60), (399, 140), (200, 200, 200), -1)  # touches the right edge
    cv2.rectangle(img, (200, 10), (203, 13), (255, 255, 255), -1)  # a speck
    parts = find_parts(img, PartsConfig(min_area=1000, max_area=50000, belt_threshold=100))
    assert [(p.box, p.complete) for p in parts] == [
        ((20.0, 50.0, 121.0, 151.0), True),
        ((300.0, 60.0, 400.0, 141.0), False),
    ]


def test_the_description_parser_checks_the_parts_stage() -> None:
    with pytest.raises(ConfigError, match=r"colour in model description\.head\.parts"):
        model_spec({"type": "text-detect", "parts": {"colour": "red"}})
    spec = model_spec({"type": "text-detect", "parts": {"min_area": 10, "max_area": 20}})
    assert spec.head.params["parts"] == {"min_area": 10, "max_area": 20}


@settings(max_examples=40, deadline=None)
@given(
    h=st.integers(1, 64),
    w=st.integers(1, 64),
    seed=st.integers(0, 2**31),
    ratio=st.floats(0.0, 5.0),
)
def test_db_never_crashes_on_arbitrary_maps(h: int, w: int, seed: int, ratio: float) -> None:
    rng = np.random.default_rng(seed)
    prob = rng.random((h, w), dtype=np.float32) ** rng.integers(1, 4)
    for r in regions_from_probability(prob, threshold=0.3, min_score=0.0, unclip_ratio=ratio):
        assert r.quad.shape == (4, 2) and np.isfinite(r.quad).all() and 0.0 <= r.score <= 1.0
