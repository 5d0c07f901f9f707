"""The digits MLP sample model: description, golden pair, reproducible build."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from edgeconsole.inference.preprocess import preprocess_image
from edgeconsole.inference.spec import load_model_spec

from ._helpers import SAMPLE_MODELS, golden_arrays, load_build_script, run_model

DIGITS = SAMPLE_MODELS / "digits"


def test_description_parses_and_matches_the_onnx_graph() -> None:
    spec = load_model_spec(DIGITS)
    assert spec.name == "digits-mlp"
    assert spec.head.type == "classify"
    assert spec.head.labels == tuple(str(d) for d in range(10))
    pre = spec.preprocess
    assert (pre.channel_order, pre.resize, pre.size) == ("GRAY", "stretch", (8, 8))
    assert pre.invert and pre.flatten and pre.layout == "NC"
    assert pre.scale == pytest.approx(16 / 255)
    assert spec.latency_budget_ms is not None and spec.latency_budget_ms <= 5

    model = onnx.load(str(spec.model_path))
    onnx.checker.check_model(model)
    graph_inputs = {i.name for i in model.graph.input} - {i.name for i in model.graph.initializer}
    assert graph_inputs == {t.name for t in spec.inputs} == {"input"}
    assert [o.name for o in model.graph.output] == [t.name for t in spec.outputs]
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims[1] == 64 == spec.inputs[0].shape[1]


def test_onnxruntime_reproduces_the_golden_output() -> None:
    spec = load_model_spec(DIGITS)
    x, expected, tol = golden_arrays(spec)
    assert x.shape == (1, 64) and x.dtype == np.float32
    # A real digits sample: integer ink counts 0..16, not a made-up vector.
    assert np.all((x >= 0) & (x <= 16)) and np.array_equal(x, np.round(x))
    (got,) = run_model(spec.model_path, {"input": x})
    assert got.shape == expected.shape == (1, 10)
    assert np.max(np.abs(got - expected)) <= tol
    assert got.sum() == pytest.approx(1.0, abs=1e-5)


def test_model_is_small_and_accurate_on_the_held_out_split() -> None:
    report = json.loads((DIGITS / "build_report.json").read_text())
    assert report["test_accuracy_onnx"] >= 0.95
    assert report["parameters"] <= 5000
    assert (DIGITS / "model.onnx").stat().st_size == report["onnx_bytes"] <= 32 * 1024


def test_onnx_accuracy_on_the_held_out_split() -> None:
    """Accuracy measured here, through onnxruntime, not read back from the report."""
    split = load_build_script("digits").load_split()
    (proba,) = run_model(DIGITS / "model.onnx", {"input": split["x_test"].astype(np.float32)})
    accuracy = float(np.mean(np.argmax(proba, axis=1) == split["y_test"]))
    assert accuracy >= 0.95


def test_rebuild_is_deterministic(tmp_path: Path) -> None:
    build = load_build_script("digits")
    report = build.build(tmp_path)
    assert report["onnx_vs_sklearn_max_abs_diff"] <= 1e-5
    x = np.load(DIGITS / "golden_input.npy")
    (shipped,) = run_model(DIGITS / "model.onnx", {"input": x})
    (rebuilt,) = run_model(tmp_path / "model.onnx", {"input": x})
    np.testing.assert_allclose(rebuilt, shipped, atol=1e-6)
    assert json.loads((tmp_path / "model.json").read_text()) == json.loads(
        (DIGITS / "model.json").read_text()
    )
    # Same split, same seed: the same golden sample comes out.
    np.testing.assert_array_equal(np.load(tmp_path / "golden_input.npy"), x)


def test_description_preprocess_reads_a_dark_digit_on_a_light_picture() -> None:
    """A 32x32 BGR picture of the golden digit, ink dark on white paper, through the
    description's own preprocess, gives the model the golden input and the same answer."""
    spec = load_model_spec(DIGITS)
    x, expected, _ = golden_arrays(spec)
    ink = x.reshape(8, 8) / 16.0
    gray = np.round(255.0 * (1.0 - ink)).astype(np.uint8)
    picture = np.repeat(np.repeat(gray, 4, axis=0), 4, axis=1)
    bgr = np.dstack([picture] * 3)
    assert np.median(picture) > 200 and picture.min() < 100  # light paper, dark ink
    tensor, _ = preprocess_image(bgr, spec.preprocess)
    assert tensor.shape == (1, 64) and tensor.dtype == np.float32
    # 8-bit rounding of the picture costs at most half a grey level (16/255/2 ink units).
    assert np.max(np.abs(tensor - x)) <= 16 / 255 / 2 + 1e-5
    (got,) = run_model(spec.model_path, {"input": tensor})
    assert int(np.argmax(got)) == int(np.argmax(expected))
    np.testing.assert_allclose(got, expected, atol=0.02)
