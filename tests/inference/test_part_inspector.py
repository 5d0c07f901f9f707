"""PartInspector: the classical locator, label crops and one batched decision per call,
on the real label-inspector models and the synthetic conveyor."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeconsole.core.errors import ConfigError, ModelError, ModelShapeError
from edgeconsole.core.frames import Frame, OverlayBanner
from edgeconsole.inference.engine import InferenceEngine
from edgeconsole.inference.loader import load_model
from edgeconsole.inference.locate import locate_parts
from edgeconsole.inference.part_inspector import DECIDE_STAGES, PartInspector
from edgeconsole.inference.partspec import LocateSpec
from edgeconsole.inference.spec import ModelSpec
from edgeconsole.sources.conveyor import ConveyorScene

ROOT = Path(__file__).resolve().parents[2] / "sample_models" / "label_inspector"
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


def _frame_with_every_state() -> tuple[np.ndarray, list[dict]]:
    """A conveyor frame (seed 0) whose complete parts cover ok, rotated and missing."""
    scene = ConveyorScene(seed=0)
    for i in range(0, 3000, 9):
        img, truth = scene.render(i)
        states = {p["label"] for p in truth["parts"] if p["complete"]}
        if {"upright", "rotated", "missing"} <= states:
            return img, [p for p in truth["parts"] if p["complete"]]
    raise AssertionError("no frame shows every state")


def _close(a: tuple[float, ...], b: list[int], tol: float) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


def test_locate_finds_every_part_to_the_pixel() -> None:
    spec = load_model(ROOT)
    assert spec.per_part is not None
    scene = ConveyorScene(seed=1)
    for i in range(0, 600, 37):
        img, truth = scene.render(i)
        parts = locate_parts(img, spec.per_part.locate)
        for true in truth["parts"]:
            x0, y0, x1, y1 = true["box"]
            if (x1 - x0) * (y1 - y0) < 1.5 * spec.per_part.locate.min_area:
                continue  # a sliver entering or leaving: too small to count as a part yet
            # The part's dark outline (3 px) is below the threshold: boxes sit inside it.
            (found,) = [p for p in parts if _close(p.box, true["box"], 4)]
            assert found.complete == true["complete"], (i, found, true)
        for found in parts:  # nothing found that is not a part
            assert any(_close(found.box, t["box"], 4) for t in truth["parts"]), (i, found)


def test_locate_finds_parts_partly_covered_by_the_one_ahead() -> None:
    """On the small copy a covered part joins the part on top of it; the full-size pixels
    split them again (the part on top has its own dark outline)."""
    spec = load_model(ROOT)
    assert spec.per_part is not None
    scene = ConveyorScene(seed=5, parts_per_min=300, overlap=0.5)
    covered = 0
    for i in range(0, 600, 3):
        img, truth = scene.render(i)
        parts = locate_parts(img, spec.per_part.locate)
        boxes = sorted((t["box"] for t in truth["parts"] if t["complete"]), key=lambda b: b[0])
        for box, ahead in zip(boxes, [*boxes[1:], None], strict=True):
            if ahead is not None and ahead[0] < box[2]:
                covered += 1  # its right side lies under the part ahead: the left edge shows
            (found,) = [
                p for p in parts if abs(p.box[0] - box[0]) <= 4 and abs(p.box[1] - box[1]) <= 4
            ]
            assert found.complete and found.box[2] <= box[2], (i, found, box)
    assert covered >= 20


def test_locate_keeps_touching_parts_apart() -> None:
    img = np.full((360, 640, 3), (38, 36, 34), np.uint8)
    for x0 in (100, 360):  # the second part's outline touches the first's
        cv2.rectangle(img, (x0, 100), (x0 + 259, 279), (200, 204, 206), -1)
        cv2.rectangle(img, (x0, 100), (x0 + 259, 279), (60, 66, 72), 3)
    parts = locate_parts(img, LocateSpec(threshold=140, min_area=4000))
    assert len(parts) == 2 and all(p.complete for p in parts)


def test_locate_on_odd_images() -> None:
    spec = LocateSpec(threshold=140, min_area=4000)
    assert locate_parts(np.full((720, 1280, 3), 38, np.uint8), spec) == []
    assert locate_parts(np.zeros((1, 1, 3), np.uint8), spec) == []
    gray = np.full((300, 400), 30, np.uint8)
    gray[50:250, 50:350] = 220
    (part,) = locate_parts(gray, spec)
    assert part.box == (50.0, 50.0, 350.0, 250.0) and part.complete
    bgra = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGRA)
    assert locate_parts(bgra, spec) == [part]
    white = np.full((300, 400, 3), 255, np.uint8)  # a part filling the view touches every edge
    assert [p.complete for p in locate_parts(white, LocateSpec(max_area=1e6))] == [False]
    for bad in (np.zeros((0, 5, 3), np.uint8), np.zeros((10, 10, 3), np.float32)):
        with pytest.raises(ModelShapeError):
            locate_parts(bad, spec)


def test_decide_judges_each_part_from_its_label(inspector: PartInspector) -> None:
    img, truth = _frame_with_every_state()
    stamps: dict[str, int] = {}
    parts = inspector.locate(img, stamps)
    complete = [p for p in parts if p.complete]
    assert len(complete) == len(truth)
    verdicts = inspector.decide(img, [p.box for p in complete], stamps)
    by_x = sorted(truth, key=lambda p: p["box"][0])
    assert [v.reason for v in verdicts] == [EXPECTED[t["label"]] for t in by_x]
    for v, t in zip(verdicts, by_x, strict=True):
        assert v.box == next(p.box for p in complete if p.box == v.box)
        assert v.passed == (t["label"] == "upright")
        if t["label_box"] is not None:  # the model saw the label, with a margin
            assert v.roi is not None and _close(v.roi, t["label_box"], 12)
            assert v.detections and all(d.kind == "text" for d in v.detections)
    for stage in ("locate", *DECIDE_STAGES):
        assert stamps[f"{stage}_end"] >= stamps[f"{stage}_start"] > 0


def test_one_batch_for_all_parts_and_the_same_verdicts_alone(
    inspector: PartInspector, monkeypatch: pytest.MonkeyPatch
) -> None:
    img, _ = _frame_with_every_state()
    boxes = [p.box for p in inspector.locate(img) if p.complete]
    shapes: list[tuple[int, ...]] = []
    real_run = inspector.runner.run

    def recording_run(tensor: np.ndarray) -> dict[str, np.ndarray]:
        shapes.append(tensor.shape)
        return real_run(tensor)

    monkeypatch.setattr(inspector.runner, "run", recording_run)
    together = inspector.decide(img, boxes)
    labelled = sum(1 for v in together if v.roi is not None)
    assert shapes == [(labelled, 3, 96, 256)]  # one detector run for every labelled part
    alone = [inspector.decide(img, [b])[0] for b in boxes]
    assert [v.reason for v in alone] == [v.reason for v in together]


def test_decide_refuses_boxes_outside_the_frame(inspector: PartInspector) -> None:
    img, _ = _frame_with_every_state()
    for bad in [
        (2000.0, 10.0, 2100.0, 100.0),
        (-300.0, -300.0, -10.0, -10.0),
        (100.0, 100.0, 50.0, 200.0),  # inverted
        (float("nan"), 0.0, 10.0, 10.0),
        (0.0, 0.0, float("inf"), 10.0),
        (1.0, 2.0, 3.0),
    ]:
        with pytest.raises(ModelShapeError):
            inspector.decide(img, [bad])  # type: ignore[list-item]
    stamps: dict[str, int] = {}
    assert inspector.decide(img, [], stamps) == []
    assert set(stamps) >= {f"{s}_{e}" for s in DECIDE_STAGES for e in ("start", "end")}


def test_a_box_partly_outside_is_clipped(inspector: PartInspector) -> None:
    img, _ = _frame_with_every_state()
    (v,) = inspector.decide(img, [(-50.0, 100.0, 200.0, 400.0)])
    assert v.box == (0.0, 100.0, 200.0, 400.0)


def test_load_refuses_a_description_without_per_part() -> None:
    obj = json.loads((ROOT / "model.json").read_text())
    del obj["per_part"]
    with pytest.raises(ConfigError, match="no per_part"):
        PartInspector.load(ModelSpec.parse(obj, ROOT))


def test_load_checks_the_crop_tensor_against_the_model() -> None:
    obj = json.loads((ROOT / "model.json").read_text())
    obj["preprocess"]["channel_order"] = "GRAY"
    obj["preprocess"]["mean"] = [0.5]
    obj["preprocess"]["std"] = [0.5]
    # The one input check (inference/input_check.py) names both shapes.
    with pytest.raises(ModelShapeError, match=r"produces 1x1x96x256 tensors.*takes \?x3x"):
        PartInspector.load(ModelSpec.parse(obj, ROOT))


def test_closed_inspector_refuses_work() -> None:
    insp = PartInspector.load(load_model(ROOT), threads=1)
    assert insp.runtime["provider"] == "CPUExecutionProvider" and insp.runtime["threads"] == 1
    insp.close()
    insp.close()  # twice is fine
    with pytest.raises(ModelError, match="closed"):
        insp.decide(np.zeros((100, 100, 3), np.uint8), [(0.0, 0.0, 50.0, 50.0)])


def test_two_threads_share_one_inspector(inspector: PartInspector) -> None:
    img, _ = _frame_with_every_state()
    boxes = [p.box for p in inspector.locate(img) if p.complete]
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(3):
                results.append([v.reason for v in inspector.decide(img, boxes)])
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors and len(results) == 6 and all(r == results[0] for r in results)


def test_engine_runs_a_per_part_description_per_part() -> None:
    engine = InferenceEngine.load(load_model(ROOT), threads=1)
    try:
        img, truth = _frame_with_every_state()
        frame = Frame(index=3, image=img, captured_ns=0, source="test")
        r = engine.process(frame)
        assert sorted(v.reason for v in r.parts) == sorted(EXPECTED[t["label"]] for t in truth)
        assert r.detections and all(d.kind == "text" for d in r.detections)
        banner = [o for o in r.overlay if isinstance(o, OverlayBanner)]
        assert banner and banner[0].text.startswith("PASS ")
        st = frame.stamps
        # The frame's preprocess stage spans locating and cropping too.
        assert st["preprocess_start"] == st["locate_start"] <= st["crop_end"]
        assert st["preprocess_end"] <= st["infer_start"] <= st["infer_end"]
        with pytest.raises(ModelError, match="inspects images"):
            engine.process_array(np.zeros(8, np.float32))
    finally:
        engine.close()
