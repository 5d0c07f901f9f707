"""The label inspector (PP-OCR detector + orientation classifier + parts stage), end to end."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeconsole.core.frames import Frame, LatencySample, OverlayBanner, PartVerdict
from edgeconsole.inference.engine import InferenceEngine
from edgeconsole.inference.loader import load_model
from edgeconsole.inference.overlay_render import render_overlay
from tests.sample_models._helpers import SAMPLE_MODELS, load_build_script

ROOT = SAMPLE_MODELS / "label_inspector"
#: Truth label state (sources.conveyor) -> the verdict the inspector must give.
EXPECTED = {
    "upright": "ok",
    "rotated": "rotated 180",
    "missing": "missing label",
    "smudged": "unreadable",
}


@pytest.fixture(scope="module")
def engine() -> InferenceEngine:
    eng = InferenceEngine.load(load_model(ROOT), threads=2)
    yield eng
    eng.close()


def test_files_licence_and_hashes() -> None:
    build = load_build_script("label_inspector")
    for _member, (name, digest) in build.MODELS.items():
        assert hashlib.sha256((ROOT / name).read_bytes()).hexdigest() == digest
    licence = (ROOT / "LICENSE").read_text()
    assert "Apache License" in licence and "PaddlePaddle Authors" in licence
    readme = (ROOT / "README.md").read_text()
    assert "RapidOCR" in readme and "PaddleOCR" in readme and "build.py" in readme
    spec = load_model(ROOT)
    assert spec.latency_budget_ms and spec.golden and spec.head.orientation is not None
    assert spec.head.orientation.golden is not None


def _label(text: list[str], rotated: bool = False, smudged: bool = False) -> np.ndarray:
    lab = np.full((92, 210, 3), (238, 241, 242), np.uint8)
    for i, line in enumerate(text):
        cv2.putText(
            lab,
            line,
            (14, 38 + 38 * i),
            cv2.FONT_HERSHEY_DUPLEX,
            0.85,
            (28, 24, 22),
            2,
            cv2.LINE_AA,
        )
    if rotated:
        lab = cv2.rotate(lab, cv2.ROTATE_180)
    if smudged:
        lab = cv2.GaussianBlur(cv2.blur(lab, (31, 3)), (0, 0), 4)
    return lab


def _scene() -> tuple[np.ndarray, list[tuple[tuple[int, int, int, int], str]]]:
    """Our own 1280x720 belt: four parts, one per label state, plus truth."""
    img = np.full((720, 1280, 3), (38, 36, 34), np.uint8)
    truth = []
    states = [
        ("ok", _label(["LOT 3141-A", "EXP 2027-05"])),
        ("rotated 180", _label(["LOT 2718-B", "EXP 2028-01"], rotated=True)),
        ("missing label", None),
        ("unreadable", _label(["LOT 1618-C", "EXP 2029-11"], smudged=True)),
    ]
    for k, (verdict, label) in enumerate(states):
        x0, y0 = 40 + k * 310, 270
        cv2.rectangle(img, (x0, y0), (x0 + 259, y0 + 179), (200, 204, 206), -1)
        cv2.rectangle(img, (x0, y0), (x0 + 259, y0 + 179), (60, 66, 72), 3)
        if label is not None:
            img[y0 + 50 : y0 + 142, x0 + 25 : x0 + 235] = label
        truth.append(((x0, y0, x0 + 260, y0 + 180), verdict))
    return img, truth


def _match(parts: list[PartVerdict], box: tuple[float, ...]) -> PartVerdict | None:
    for p in parts:
        ix = max(0.0, min(p.box[2], box[2]) - max(p.box[0], box[0]))
        iy = max(0.0, min(p.box[3], box[3]) - max(p.box[1], box[1]))
        union = (
            (p.box[2] - p.box[0]) * (p.box[3] - p.box[1])
            + (box[2] - box[0]) * (box[3] - box[1])
            - ix * iy
        )
        if ix * iy / union > 0.5:
            return p
    return None


def test_verdicts_on_a_rendered_scene(engine: InferenceEngine) -> None:
    img, truth = _scene()
    f = Frame(index=0, image=img, captured_ns=0, source="test")
    f.stamps["captured"] = 0
    r = engine.process(f)
    got = [(_match(r.parts, box), verdict) for box, verdict in truth]
    assert [p.reason if p else None for p, _ in got] == [v for _, v in truth]
    assert [p.passed for p, _ in got if p] == [True, False, False, False]
    texts = [d for d in r.detections if d.kind == "text"]
    assert sum(d.label == "text 180" for d in texts) == 2  # both lines of the rotated label
    assert any(isinstance(o, OverlayBanner) and o.text == "PASS 1 / FAIL 3" for o in r.overlay)
    drawn = render_overlay(img, r)
    assert drawn.shape == img.shape and (drawn != img).any()


def test_empty_belt_has_no_parts(engine: InferenceEngine) -> None:
    img = np.full((720, 1280, 3), (38, 36, 34), np.uint8)
    r = engine.process(Frame(index=0, image=img, captured_ns=0, source="test"))
    assert r.parts == [] and r.detections == []


def _accuracy(engine: InferenceEngine, seed: int, frames: list[int]) -> tuple[float, Counter]:
    conveyor = pytest.importorskip("edgeconsole.sources.conveyor")
    scene = conveyor.ConveyorScene(seed=seed)
    confusion: Counter = Counter()
    for i in frames:
        img, truth = scene.render(i)
        r = engine.process(Frame(index=i, image=img, captured_ns=0, source="conveyor", truth=truth))
        for part in truth["parts"]:
            if not part["complete"]:
                continue
            v = _match(r.parts, tuple(part["box"]))
            confusion[(part["label"], v.reason if v else "not found")] += 1
    total = sum(confusion.values())
    correct = sum(n for (state, got), n in confusion.items() if EXPECTED[state] == got)
    return correct / total, confusion


def test_conveyor_sample(engine: InferenceEngine) -> None:
    acc, confusion = _accuracy(engine, seed=3, frames=[0, 110, 220, 330, 440, 550])
    assert sum(confusion.values()) >= 10
    assert acc >= 0.85, confusion


@pytest.mark.slow
def test_conveyor_accuracy_over_100_frames(engine: InferenceEngine) -> None:
    """Fully visible parts over 100 frames spread across ~50 distinct parts."""
    acc, confusion = _accuracy(engine, seed=0, frames=list(range(0, 2700, 27)))
    print(f"label inspector accuracy on the conveyor: {acc:.3f} {dict(confusion)}")
    assert {state for state, _ in confusion} == set(EXPECTED)  # every state was seen
    assert acc >= 0.85, confusion


def test_stage_stamps_on_a_720p_frame(engine: InferenceEngine) -> None:
    img, _ = _scene()
    f = Frame(index=1, image=img, captured_ns=0, source="test")
    f.stamps["captured"] = 0
    engine.process(f)
    s = LatencySample.from_stamps(1, f.stamps)
    assert set(s.stages) == {"preprocess", "infer", "postprocess", "overlay"}
    assert all(v >= 0 for v in s.stages.values())


def test_rebuild_from_a_wheel_file(tmp_path: Path) -> None:
    """build.py's extraction checks hashes: a wheel with a tampered model is refused."""
    import zipfile

    build = load_build_script("label_inspector")
    wheel = tmp_path / "fake.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for member in build.MODELS:
            zf.writestr(member, b"not the model")
    with pytest.raises(SystemExit, match="does not match"):
        build.extract(wheel)


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((1, 1, 3), np.uint8),
        np.full((720, 1280), 40, np.uint8),  # gray
        np.full((720, 1280, 4), 40, np.uint8),  # BGRA
        np.full((20, 3000, 3), 200, np.uint8),  # a thin strip
        np.full((2160, 3840, 3), 40, np.uint8),  # 4K: shrunk to 960 on the long side
    ],
)
def test_odd_frames_are_handled(engine: InferenceEngine, image: np.ndarray) -> None:
    r = engine.process(Frame(index=0, image=image, captured_ns=0, source="test"))
    assert r.parts == [] or all(p.box[2] <= image.shape[1] for p in r.parts)
    assert any(isinstance(o, OverlayBanner) for o in r.overlay)
