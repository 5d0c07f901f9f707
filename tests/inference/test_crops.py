"""The fused crop path (one resize into a padded batch, one pass per channel plane) against
the generic one it replaces on the decision path: the same tensors to the bit, the same
geometries, the same verdicts, on real conveyor frames and the real fast bundle."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from edgeconsole.inference.crops import crop_batch, fused_fits
from edgeconsole.inference.loader import load_model
from edgeconsole.inference.locate import to_gray
from edgeconsole.inference.part_inspector import PartInspector
from edgeconsole.inference.roi import clip_box, find_label, text_lines
from edgeconsole.inference.spec import ModelSpec
from edgeconsole.sources.conveyor import ConveyorScene

FAST = Path(__file__).resolve().parents[2] / "sample_models" / "label_orientation"


@pytest.fixture(scope="module")
def spec() -> ModelSpec:
    return load_model(FAST)


@pytest.fixture(scope="module")
def inspector(spec: ModelSpec) -> Iterator[PartInspector]:
    insp = PartInspector.load(spec, threads=1)
    yield insp
    insp.close()


def _frames(n: int, seed: int = 3) -> list[np.ndarray]:
    """Real conveyor frames, far enough apart to show different parts."""
    scene = ConveyorScene(seed=seed, parts_per_min=600.0)
    return [scene.render(i)[0] for i in range(0, 7 * n, 7)]


def _line_crops(spec: ModelSpec, insp: PartInspector) -> list[tuple[np.ndarray, list]]:
    """(frame, text-line pixel boxes of its labelled parts), as the decision path finds them."""
    assert spec.per_part is not None
    out = []
    for img in _frames(40):
        gray = to_gray(img)
        boxes = []
        for part in insp.locate(img):
            px = tuple(round(v) for v in part.box)
            label = find_label(gray, px, spec.per_part.roi)  # type: ignore[arg-type]
            if label is None:
                continue
            for line in text_lines(gray, label, 3):
                b = clip_box(line, img.shape[1], img.shape[0])
                if b is not None:
                    boxes.append(b)
        if boxes:
            out.append((img, boxes))
    assert sum(len(b) for _, b in out) >= 30  # enough real crops to mean something
    return out


def test_fused_tensors_equal_the_generic_ones_to_the_bit(
    spec: ModelSpec, inspector: PartInspector
) -> None:
    assert fused_fits(spec.preprocess, _frames(1)[0])
    for img, boxes in _line_crops(spec, inspector):
        for batch in ([boxes[0]], boxes):  # one crop, and a batch of several widths
            fused, fgeo = crop_batch(img, batch, spec.preprocess)
            generic, ggeo = crop_batch(img, batch, spec.preprocess, fused=False)
            assert fused.dtype == generic.dtype == np.float32
            assert fused.shape == generic.shape == (len(batch), 3, 48, 192)
            assert fused.flags.c_contiguous
            assert np.array_equal(fused, generic)
            assert fgeo == ggeo


@pytest.mark.parametrize(
    "change",
    [
        {"channel_order": "RGB"},
        {"resize": "stretch"},
        {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
        {"mean": [0.5], "std": [0.25], "scale": 1.0},
    ],
)
def test_fused_equals_generic_for_every_description_it_takes(spec: ModelSpec, change: dict) -> None:
    pre = dataclasses.replace(spec.preprocess, **change)
    img = _frames(1, seed=5)[0]
    boxes = [(100, 200, 260, 240), (300, 100, 331, 190), (0, 0, 1280, 720)]
    assert fused_fits(pre, img)
    fused, fgeo = crop_batch(img, boxes, pre)
    generic, ggeo = crop_batch(img, boxes, pre, fused=False)
    assert np.array_equal(fused, generic) and fgeo == ggeo


@pytest.mark.parametrize(
    "change",
    [{"resize": "letterbox"}, {"dtype": "float16"}, {"invert": True}, {"pad_value": 300}],
)
def test_descriptions_the_fused_path_does_not_take_go_the_generic_way(
    spec: ModelSpec, change: dict
) -> None:
    pre = dataclasses.replace(spec.preprocess, **change)
    img = _frames(1, seed=5)[0]
    assert not fused_fits(pre, img)
    assert not fused_fits(spec.preprocess, to_gray(img))  # a gray frame: generic too
    box = [(100, 200, 260, 240)]
    a, _ = crop_batch(img, box, pre)
    b, _ = crop_batch(img, box, pre, fused=False)
    assert np.array_equal(a, b)


def test_the_fast_bundle_decides_the_same_verdicts_on_either_path(
    inspector: PartInspector,
) -> None:
    """Every complete part of 40 real conveyor frames, decided through the fused path and
    through the generic one: verdicts, scores and regions identical."""
    seen: set[str] = set()
    for img in _frames(40, seed=9):
        boxes = [p.box for p in inspector.locate(img) if p.complete]
        if not boxes:
            continue
        inspector.fused = True
        fast = inspector.decide(img, boxes)
        inspector.fused = False
        try:
            plain = inspector.decide(img, boxes)
        finally:
            inspector.fused = True
        assert [(v.reason, v.score, v.roi) for v in fast] == [
            (v.reason, v.score, v.roi) for v in plain
        ]
        seen.update(v.reason for v in fast)
    assert {"ok", "rotated 180"} <= seen  # both model verdicts were exercised
