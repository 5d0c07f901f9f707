from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeconsole.core.errors import ModelShapeError
from edgeconsole.inference.preprocess import (
    Geometry,
    preprocess_array,
    preprocess_image,
    resize_image,
)
from edgeconsole.inference.spec import PreprocessSpec


def spec(**kw: object) -> PreprocessSpec:
    return PreprocessSpec.parse(kw)


def bgr(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@settings(max_examples=60, deadline=None)
@given(
    sh=st.integers(10, 900),
    sw=st.integers(10, 900),
    th=st.integers(16, 640),
    tw=st.integers(16, 640),
    fx=st.floats(0, 1),
    fy=st.floats(0, 1),
)
def test_letterbox_round_trip(sh: int, sw: int, th: int, tw: int, fx: float, fy: float) -> None:
    img = np.zeros((sh, sw, 3), np.uint8)
    out, geo = resize_image(img, spec(resize="letterbox", size=[th, tw]))
    assert out.shape[:2] == (th, tw)
    # Aspect is kept (within a rounding pixel) and the image is centred.
    assert abs(geo.scale_x - geo.scale_y) <= 1.0 / min(sh, sw) + 1e-9
    x0, y0, x1, y1 = geo.content
    assert x0 >= 0 and y0 >= 0 and x1 <= tw + 1e-6 and y1 <= th + 1e-6
    # Centred within the one pixel an odd padding puts on one side (content edges are
    # float products, so allow their rounding too).
    assert abs(x0 - (tw - x1)) <= 1 + 1e-6 and abs(y0 - (th - y1)) <= 1 + 1e-6
    p = np.array([[fx * sw, fy * sh]])
    np.testing.assert_allclose(geo.to_source(geo.to_input(p)), p, atol=1e-6)


def test_letterbox_maps_a_feature_back_to_source_pixels() -> None:
    img = np.zeros((300, 600, 3), np.uint8)
    cv2.rectangle(img, (400, 100), (449, 149), (255, 255, 255), -1)
    out, geo = resize_image(img, spec(resize="letterbox", size=[320, 320], pad_value=114))
    assert geo.offset_y == 80 and geo.offset_x == 0 and out[0, 0, 0] == 114
    ys, xs = np.nonzero(out[:, :, 0] > 128)
    box = geo.box_to_source((xs.min(), ys.min(), xs.max() + 1, ys.max() + 1))
    np.testing.assert_allclose(box, (400, 100, 450, 150), atol=2.5)


def test_stretch_geometry() -> None:
    out, geo = resize_image(bgr(100, 200), spec(resize="stretch", size=[50, 50]))
    assert out.shape == (50, 50, 3)
    assert geo.scale_x == 0.25 and geo.scale_y == 0.5
    np.testing.assert_allclose(geo.to_source(np.array([[25.0, 25.0]])), [[100.0, 50.0]])


@pytest.mark.parametrize(
    ("h", "w", "max_side", "expect_hw", "scale"),
    [
        (720, 1280, 960, (544, 960), 0.75),  # downscaled, height rounded up to 32
        (100, 200, 960, (128, 224), 1.0),  # fits: scale kept, padded
        (64, 64, None, (64, 64), 1.0),
    ],
)
def test_pad_mode(
    h: int, w: int, max_side: int | None, expect_hw: tuple[int, int], scale: float
) -> None:
    kw: dict[str, object] = {"resize": "pad", "multiple_of": 32}
    if max_side is not None:
        kw["max_side"] = max_side
    img = np.full((h, w, 3), 200, np.uint8)
    out, geo = resize_image(img, spec(**kw))
    assert out.shape[:2] == expect_hw
    assert geo.scale_x == pytest.approx(scale, rel=1e-3)
    # Content sits top-left; padding (pad_value 0) is bottom/right.
    assert out[0, 0, 0] == 200 and out[-1, -1, 0] in (0, 200)
    assert geo.offset_x == 0 and geo.offset_y == 0


def test_channel_order_mean_std_layout_nchw() -> None:
    img = np.zeros((4, 4, 3), np.uint8)
    img[..., 0], img[..., 1], img[..., 2] = 10, 20, 30  # B, G, R
    s = spec(resize="none", channel_order="RGB", scale=1.0, mean=[1, 2, 3], std=[2, 4, 8])
    t, geo = preprocess_image(img, s)
    assert t.shape == (1, 3, 4, 4) and t.dtype == np.float32
    np.testing.assert_allclose(t[0, :, 0, 0], [(30 - 1) / 2, (20 - 2) / 4, (10 - 3) / 8])
    assert geo == Geometry((4, 4), (4, 4))
    t2, _ = preprocess_image(img, spec(resize="none", channel_order="BGR", scale=1.0))
    np.testing.assert_allclose(t2[0, :, 0, 0], [10, 20, 30])


def test_vectorised_normalisation_matches_the_textbook_formula() -> None:
    img = bgr(37, 53, seed=3)
    s = spec(
        resize="none", channel_order="RGB", mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]
    )
    t, _ = preprocess_image(img, s)
    rgb = img[..., ::-1].astype(np.float64) / 255.0
    ref = ((rgb - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]).transpose(2, 0, 1)[None]
    np.testing.assert_allclose(t, ref, rtol=1e-5, atol=1e-5)
    t_nhwc, _ = preprocess_image(img, spec(**{**s.to_json(), "layout": "NHWC"}))
    np.testing.assert_allclose(t_nhwc, ref.transpose(0, 2, 3, 1), rtol=1e-5, atol=1e-5)


def test_gray_invert_flatten_nc() -> None:
    img = np.full((16, 16, 3), 255, np.uint8)
    img[4:12, 7:9] = 0  # a dark stroke on white
    s = spec(
        resize="stretch",
        size=[8, 8],
        channel_order="GRAY",
        layout="NC",
        flatten=True,
        invert=True,
        scale=16 / 255,
    )
    t, _ = preprocess_image(img, s)
    assert t.shape == (1, 64)
    grid = t.reshape(8, 8)
    assert grid[4, 3] > 4 and grid[4, 3] > 10 * grid[0, 0] and grid[0, 0] == pytest.approx(0.0)


def test_uint8_model_input_is_passed_through_unscaled() -> None:
    img = bgr(8, 8)
    t, _ = preprocess_image(
        img, spec(resize="none", channel_order="BGR", layout="NHWC", scale=1.0, dtype="uint8")
    )
    assert t.dtype == np.uint8 and t.shape == (1, 8, 8, 3)
    np.testing.assert_array_equal(t[0], img)


def test_integer_dtype_is_rounded_and_clipped() -> None:
    img = np.full((2, 2, 3), 255, np.uint8)
    t, _ = preprocess_image(img, spec(resize="none", scale=1.0, mean=[-10, 0, 0], dtype="int8"))
    assert t.dtype == np.int8 and t.max() == 127


def test_gray_and_bgra_sources() -> None:
    gray = np.full((10, 12), 100, np.uint8)
    t, _ = preprocess_image(gray, spec(resize="none", channel_order="RGB", scale=1.0))
    assert t.shape == (1, 3, 10, 12)
    bgra = np.zeros((10, 12, 4), np.uint8)
    t, _ = preprocess_image(bgra, spec(resize="none", channel_order="BGR", scale=1.0))
    assert t.shape == (1, 3, 10, 12)


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((0, 5, 3), np.uint8),
        np.zeros((4, 4, 2), np.uint8),
        np.zeros((2, 2, 2, 2), np.uint8),
    ],
)
def test_bad_images(bad: np.ndarray) -> None:
    with pytest.raises(ModelShapeError):
        preprocess_image(bad, spec(resize="stretch", size=[4, 4]))


def test_preprocess_array() -> None:
    data = np.arange(12, dtype=np.float64).reshape(4, 3)
    t = preprocess_array(
        data,
        spec(
            channel_order="RGB", scale=1.0, mean=[1, 2, 3], std=[1, 1, 1], layout="NC", flatten=True
        ),
    )
    assert t.shape == (1, 12) and t.dtype == np.float32
    np.testing.assert_allclose(t[0, :3], [-1, -1, -1])
    v = preprocess_array(np.ones(5), spec(layout="NC", scale=1.0, channel_order="GRAY"))
    assert v.shape == (1, 5)
    with pytest.raises(ModelShapeError):
        preprocess_array(np.array([]), spec())
    with pytest.raises(ModelShapeError):
        preprocess_array(np.array(["a", "b"]), spec())
