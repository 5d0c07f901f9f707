"""Golden check of both PP-OCR models of the label inspector through the real engine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeconsole.inference.engine import InferenceEngine
from edgeconsole.inference.loader import load_model
from edgeconsole.inference.spec import ModelSpec

ROOT = Path(__file__).resolve().parents[2] / "sample_models" / "label_inspector"


def _golden(spec: ModelSpec, threads: int) -> float:
    assert spec.golden is not None and spec.base_dir is not None
    x = np.load(spec.base_dir / spec.golden["input"])
    expected = np.load(spec.base_dir / spec.golden["output"])
    engine = InferenceEngine.load(spec, threads=threads)
    try:
        out = engine.run_tensor(x)[spec.outputs[0].name]
    finally:
        engine.close()
    assert out.shape == expected.shape
    return float(np.abs(out - expected).max())


@pytest.mark.parametrize("threads", [1, 2])
def test_detector_golden(threads: int) -> None:
    spec = load_model(ROOT)
    assert _golden(spec, threads) <= spec.golden["tolerance"]  # type: ignore[index]


@pytest.mark.parametrize("threads", [1, 2])
def test_orientation_golden(threads: int) -> None:
    spec = load_model(ROOT).head.orientation
    assert spec is not None
    assert _golden(spec, threads) <= spec.golden["tolerance"]  # type: ignore[index]
    # The pair is an upright and an upside-down crop: the classifier must tell them apart.
    expected = np.load(ROOT / spec.golden["input"].replace("input", "output"))  # type: ignore[index]
    assert expected.argmax(axis=1).tolist() == [0, 1]


def test_golden_detects_the_text_lines() -> None:
    out = np.load(ROOT / "golden_output.npy")
    rows = (out[0, 0] > 0.3).mean(axis=1)
    # Two printed lines: two bands of text probability separated by a gap.
    bands = np.flatnonzero(np.diff((rows > 0.05).astype(int)) != 0)
    assert len(bands) >= 4
