"""The per_part section of a model description and the fit-height preprocessing mode."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edgeconsole.core.errors import ConfigError
from edgeconsole.inference.preprocess import preprocess_image
from edgeconsole.inference.spec import ModelSpec, PreprocessSpec

ROOT = Path(__file__).resolve().parents[2] / "sample_models" / "label_inspector"


def _classifier() -> dict[str, Any]:
    """The orientation classifier as a top-level per-part model description."""
    return {
        "name": "orient",
        "model": "cls.onnx",
        "inputs": [{"name": "x", "dtype": "float32", "shape": [-1, 3, 48, 192]}],
        "outputs": [
            {"name": "save_infer_model/scale_0.tmp_1", "dtype": "float32", "shape": [-1, 2]}
        ],
        "preprocess": {"resize": "fit-height", "size": [48, 192], "pad_value": 128},
        "head": {"type": "classify", "labels": ["0", "180"], "threshold": 0.9},
        "per_part": {
            "locate": {"threshold": 140, "min_area": 4000},
            "roi": {"method": "label", "if_missing": "verdict"},
            "verdicts": {"0": "ok", "180": "rotated 180"},
        },
    }


def _parse(obj: dict[str, Any]) -> ModelSpec:
    return ModelSpec.parse(obj, ROOT)


def test_round_trip_keeps_every_setting() -> None:
    spec = _parse(_classifier())
    assert spec.per_part is not None
    again = _parse(json.loads(json.dumps(spec.to_json())))
    assert again.per_part == spec.per_part
    assert again.per_part.verdict_for("180") == "rotated 180"
    assert again.per_part.roi.if_missing == "verdict"


def test_label_inspector_description_parses_with_per_part() -> None:
    spec = ModelSpec.parse(json.loads((ROOT / "model.json").read_text()), ROOT)
    assert spec.per_part is not None and spec.per_part.roi.method == "label"
    assert spec.preprocess.resize == "fit-height"


def _with(path: str, value: Any) -> dict[str, Any]:
    obj = copy.deepcopy(_classifier())
    *parents, last = path.split(".")
    node = obj
    for key in parents:
        node = node[key]
    node[last] = value
    return obj


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("per_part.colour", 1, "unknown field"),
        ("per_part.locate.thresh", 1, "unknown field"),
        ("per_part.roi.method", "magic", "roi.method"),
        ("per_part.locate.threshold", 300, "gray level"),
        ("per_part.locate.threshold", True, "integer"),
        ("per_part.locate.min_area", 0, "min_area"),
        ("per_part.locate.max_area", 10, "max_area"),
        ("per_part.locate.downscale", 0, "at least 1"),
        ("per_part.locate.downscale", 99, "1..16"),
        ("per_part.locate.max_parts", 5000, "1..1024"),
        ("per_part.roi.box", [0.5, 0.5, 0.4, 0.9], "x1 > x0"),
        ("per_part.roi.box", [0, 0, 1], "fractions"),
        ("per_part.roi.box", [0, 0, 1, 1.5], "between 0 and 1"),
        ("per_part.roi.margin", -0.1, "between 0 and 1"),
        ("per_part.roi.margin", float("nan"), "between 0 and 1"),
        ("per_part.roi.contrast", 0, "gray-level difference"),
        ("per_part.roi.min_fraction", 0.9, "max_fraction"),
        ("per_part.roi.if_missing", "guess", "if_missing"),
        ("per_part.roi.missing_verdict", "", "verdict of 1 to 64"),
        ("per_part.roi.min_sharpness", -1, "not be negative"),
        ("per_part.verdicts", {"90": "sideways"}, "does not have: 90"),
        ("per_part.verdicts", ["ok"], "map class labels"),
        ("per_part.pass", [], "non-empty list"),
        ("per_part.pass", ["perfect"], "no part could pass"),
        ("per_part.max_batch", 0, "at least 1"),
        ("per_part.max_batch", 100000, "1..256"),
        ("per_part", [], "must be an object"),
        ("preprocess.size", None, "size is required"),
    ],
)
def test_bad_per_part_is_refused(path: str, value: Any, message: str) -> None:
    obj = _with(path, value)
    if value is None:
        del obj["preprocess"]["size"]
    with pytest.raises(ConfigError, match=message):
        _parse(obj)


def test_classify_only_fields_are_refused_on_a_text_head() -> None:
    obj = json.loads((ROOT / "model.json").read_text())
    obj["per_part"]["verdicts"] = {"0": "ok"}
    with pytest.raises(ConfigError, match="only apply to a classify head"):
        _parse(obj)


def test_a_head_that_cannot_decide_parts_is_refused() -> None:
    obj = _classifier()
    obj["head"] = {"type": "anomaly", "threshold": 0.5}
    with pytest.raises(ConfigError, match="needs a head that decides a crop"):
        _parse(obj)


def _paddle_cls_input(img: np.ndarray, h: int = 48, w: int = 192) -> np.ndarray:
    """PaddleOCR's TextClassifier.resize_norm_img, written out from its description."""
    ratio = img.shape[1] / float(img.shape[0])
    resized_w = w if math.ceil(h * ratio) > w else math.ceil(h * ratio)
    resized = cv2.resize(img, (resized_w, h)).astype(np.float32)
    resized = resized.transpose((2, 0, 1)) / 255.0
    resized = (resized - 0.5) / 0.5
    out = np.zeros((3, h, w), dtype=np.float32)
    out[:, :, :resized_w] = resized
    return out


PP_CLS = PreprocessSpec.parse(
    {
        "resize": "fit-height",
        "size": [48, 192],
        "pad_value": 128,
        "channel_order": "BGR",
        "mean": [0.5, 0.5, 0.5],
        "std": [0.5, 0.5, 0.5],
    }
)


@pytest.mark.parametrize("shape", [(60, 100), (40, 160), (50, 400), (30, 30), (96, 500)])
def test_fit_height_matches_paddleocr(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(shape[0] * 1000 + shape[1])
    img = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    tensor, geo = preprocess_image(img, PP_CLS)
    ref = _paddle_cls_input(img)
    assert tensor.shape == (1, 3, 48, 192)
    content = min(192, math.ceil(48 * shape[1] / shape[0]))
    # Inside the image: the same pixels; the padding: 128 is as close to Paddle's 127.5
    # as an 8-bit pad value gets.
    assert np.abs(tensor[0, :, :, :content] - ref[:, :, :content]).max() < 1e-5
    if content < 192:
        assert np.abs(tensor[0, :, :, content:] - ref[:, :, content:]).max() <= 0.0040
    assert geo.content[2] == pytest.approx(content)
    # Geometry maps the input's right edge of content back to the source's right edge.
    assert geo.to_source(np.array([[content, 48.0]]))[0].tolist() == pytest.approx(
        [shape[1], shape[0]]
    )


def test_fit_height_squeezes_a_wide_crop_instead_of_cutting_it() -> None:
    img = np.zeros((48, 480, 3), np.uint8)
    img[:, -10:] = 255  # a mark at the far right must survive
    tensor, _ = preprocess_image(img, PP_CLS)
    assert tensor[0, 0, :, -3:].mean() > 0.5
