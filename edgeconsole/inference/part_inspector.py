"""Per-part inspection: locate parts cheaply, crop each one's region, decide in one batch.

The contract the live pipeline, the tracker and the benchmarks build on::

    inspector = PartInspector.load(spec, threads=1, providers=None, model_bytes=None)
    parts = inspector.locate(image_bgr, stamps)          # list[Part]
    verdicts = inspector.decide(image_bgr, boxes, stamps)  # list[PartVerdict]

- ``spec`` is a ModelSpec with a ``per_part`` section (``inference/partspec.py``);
  ``load`` refuses one without it. Models are opened and checked against the
  description exactly as ``InferenceEngine.load`` does (names, dtypes, ranks, and
  that the fixed-size preprocessing produces a tensor the model accepts).
- ``locate`` looks at the whole frame with the classical locator only (no model):
  boxes in source pixels, left to right, ``Part.complete`` False for a part that
  touches the frame edge (entering or leaving: do not judge it yet). About 1 ms on
  a 1280x720 frame.
- ``decide`` takes part boxes in source pixels (from ``locate``, or a tracker's
  boxes on the trigger frame) and returns one PartVerdict per box, in the same
  order: ``box`` (the part), ``passed``, ``reason`` (the verdict), ``score``,
  ``roi`` (the region the model saw, e.g. the label; None when the verdict needed
  no model, e.g. a missing label) and ``detections`` (what the model found there,
  e.g. text lines). All crops go through the model as one batch (split only above
  ``per_part.max_batch``). A box is clipped to the frame; a box with nothing
  inside the frame, or a non-finite one, raises ModelShapeError. No boxes: [].
- Both fill ``stamps`` (if given) with monotonic ``now_ns`` pairs
  ``<stage>_start`` / ``<stage>_end``: ``locate`` for ``locate``; ``crop``
  (finding each region of interest), ``preprocess`` (resize, normalise, batch),
  ``infer`` (the main model), ``postprocess`` (reading outputs, the orientation
  batch of a text head, verdicts) for ``decide``. A stage that did not run (no
  crop needed a model) is stamped empty, so every call has the same keys.
- One call at a time per inspector (a lock serialises callers); ``close`` frees
  the sessions. ``providers``, ``threads`` and ``runtime`` (provider, threads,
  onnxruntime version: record it with every decision) say what runs the models.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from edgeconsole.core.clock import now_ns
from edgeconsole.core.errors import ConfigError, ModelError, ModelShapeError
from edgeconsole.core.frames import Part, PartVerdict
from edgeconsole.inference.crops import crop_batch
from edgeconsole.inference.engine import ModelRunner, _open, expected_image_shape
from edgeconsole.inference.input_check import check_input_fit
from edgeconsole.inference.locate import locate_parts, to_gray
from edgeconsole.inference.part_judges import ClassJudge, Crop, CropJudge, TextJudge
from edgeconsole.inference.partspec import PerPartSpec
from edgeconsole.inference.providers import runtime_info
from edgeconsole.inference.roi import (
    clip_box,
    find_label,
    grow,
    label_structure,
    sharpness,
    sub_box,
    text_lines,
)
from edgeconsole.inference.spec import ModelSpec

Box = tuple[float, float, float, float]
DECIDE_STAGES: tuple[str, ...] = ("crop", "preprocess", "infer", "postprocess")


class PartInspector:
    """Locate parts on frames and decide each part from its crop. See the module doc."""

    def __init__(
        self,
        spec: ModelSpec,
        main: ModelRunner,
        judge: CropJudge,
        secondary: list[ModelRunner],
        threads: int | None,
    ) -> None:
        assert spec.per_part is not None
        self.spec = spec
        self.per_part: PerPartSpec = spec.per_part
        self._main = main
        self._judge = judge
        self._secondary = secondary
        self.threads = threads
        batch_dim = main.input.shape[0] if main.input.shape else -1
        self._chunk = 1 if batch_dim == 1 else self.per_part.max_batch
        #: Crops through the fused resize-and-normalise path where the description allows
        #: (``crops.fused_fits``); False: the generic path, the reference it must equal.
        self.fused = True
        self._lock = threading.Lock()
        self._closed = False

    @classmethod
    def load(
        cls,
        spec: ModelSpec,
        *,
        threads: int | None = None,
        providers: list[str] | None = None,
        model_bytes: dict[str, bytes] | None = None,
    ) -> PartInspector:
        if spec.per_part is None:
            raise ConfigError(
                "this model description has no per_part section",
                subject=spec.name,
                hint="add per_part (locate, roi) to run the model on part crops",
            )
        main = _open(spec, threads, providers, model_bytes)
        # The one check that the preprocessing produces what the model takes (issue 13),
        # here too so that a caller loading an inspector directly gets it.
        check_input_fit(spec, main.model_dims)
        expected = expected_image_shape(spec.preprocess)
        if expected is not None and all(d > 0 for d in expected):
            main.check_input(np.empty(expected, dtype=np.uint8))
        secondary: list[ModelRunner] = []
        judge: CropJudge
        if spec.head.type == "classify":
            judge = ClassJudge(spec, spec.per_part)
        elif spec.head.type == "text-detect":
            run = None
            if spec.head.orientation is not None:
                runner = _open(spec.head.orientation, threads, providers, model_bytes)
                secondary.append(runner)
                run = runner.run
            judge = TextJudge(spec, run)
        else:  # the parser refuses other heads with per_part; a hand-built spec may not
            raise ConfigError(f"a '{spec.head.type}' head cannot decide parts", subject=spec.name)
        return cls(spec, main, judge, secondary, threads)

    @property
    def providers(self) -> list[str]:
        return list(self._main.session.get_providers())

    @property
    def runtime(self) -> dict[str, Any]:
        """Provider, thread count and onnxruntime version running the model (providers.py)."""
        return runtime_info(self._main.session, self.threads)

    @property
    def runner(self) -> ModelRunner:
        """The main model's runner (golden checks and benchmarks feed it tensors)."""
        return self._main

    def locate(self, image: np.ndarray, stamps: dict[str, int] | None = None) -> list[Part]:
        st = stamps if stamps is not None else {}
        st["locate_start"] = now_ns()
        try:
            return locate_parts(image, self.per_part.locate)
        finally:
            st["locate_end"] = now_ns()

    def decide(
        self,
        image: np.ndarray,
        boxes: Sequence[Box],
        stamps: dict[str, int] | None = None,
    ) -> list[PartVerdict]:
        with self._lock:
            if self._closed:
                raise ModelError("the part inspector is closed", subject=self.spec.name)
            return self._decide(image, list(boxes), stamps if stamps is not None else {})

    def _decide(self, image: np.ndarray, boxes: list[Box], st: dict[str, int]) -> list[PartVerdict]:
        st["crop_start"] = now_ns()
        if not isinstance(image, np.ndarray) or image.ndim not in (2, 3) or image.size == 0:
            raise ModelShapeError("an image must be a non-empty H x W or H x W x C array")
        h, w = image.shape[:2]
        # Gray only where parts are: converting a whole 720p frame costs more than
        # everything else the crop stage does. Nothing reads outside these regions.
        gray = np.empty((h, w), np.uint8)
        verdicts: list[PartVerdict | None] = [None] * len(boxes)
        # One Crop per model input; a part split into text lines has several.
        crops: list[tuple[int, Box, Box, tuple[int, int, int, int]]] = []
        for i, box in enumerate(boxes):
            part = _as_box(_part_pixels(box, w, h))
            reach = clip_box(grow(part, self.per_part.roi.margin), w, h)
            assert reach is not None  # it holds the part, which is inside the frame
            x0, y0, x1, y1 = reach
            gray[y0:y1, x0:x1] = to_gray(image[y0:y1, x0:x1])
            early, roi, regions = self._region(gray, part)
            if early is not None:
                verdicts[i] = early
                continue
            assert roi is not None
            crops.extend((i, part, roi, r) for r in regions)
        st["crop_end"] = st["preprocess_start"] = now_ns()
        if not crops:
            st["preprocess_end"] = st["infer_start"] = st["infer_end"] = now_ns()
            st["postprocess_start"] = st["postprocess_end"] = st["infer_end"]
            return [v for v in verdicts if v is not None]
        batches = []
        for k in range(0, len(crops), self._chunk):
            chunk = crops[k : k + self._chunk]
            tensor, geos = crop_batch(
                image, [r for *_, r in chunk], self.spec.preprocess, fused=self.fused
            )
            batch = [
                Crop(group=i, part=part, roi=roi, where=g)
                for (i, part, roi, _), g in zip(chunk, geos, strict=True)
            ]
            batches.append((tensor, batch))
        st["preprocess_end"] = st["infer_start"] = now_ns()
        outputs = [self._main.run(tensor) for tensor, _ in batches]
        st["infer_end"] = st["postprocess_start"] = now_ns()
        # Read each batch's outputs, then judge every part from all of its crops.
        read = [
            self._judge.read(out, batch, image)
            for (_, batch), out in zip(batches, outputs, strict=True)
        ]
        for i, v in self._judge.verdicts([r for rs in read for r in rs], image, gray).items():
            verdicts[i] = v
        st["postprocess_end"] = now_ns()
        return [v for v in verdicts if v is not None]

    def _region(
        self, gray: np.ndarray, box: Box
    ) -> tuple[PartVerdict | None, Box | None, list[tuple[int, int, int, int]]]:
        """(early verdict, None, []) when no model is needed, else (None, ROI, crops).

        The crops are the ROI itself, or its text lines when ``roi.split`` is ``lines``.
        """
        spec = self.per_part.roi
        h, w = gray.shape[:2]
        roi: Box | None
        if spec.method == "part":
            roi = box
        elif spec.method == "box":
            roi = sub_box(box, spec.box)
        else:
            roi = find_label(gray, _pixels(box), spec)
            if roi is None and spec.if_missing == "verdict":
                present = label_structure(gray, box, spec.presence_contrast)
                reason = (
                    spec.unreadable_verdict
                    if present >= spec.presence_fraction
                    else spec.missing_verdict
                )
                return self._early(box, reason, None), None, []
            if roi is None:
                roi = box
        pixels = clip_box(grow(roi, spec.margin), w, h)
        if pixels is None:  # a fraction box can be thinner than a pixel
            raise ModelShapeError(f"the region of interest of part {box} is empty")
        region = _as_box(pixels)
        if spec.min_sharpness is not None:
            x0, y0, x1, y1 = pixels
            if sharpness(gray[y0:y1, x0:x1]) < spec.min_sharpness:
                return self._early(box, spec.unreadable_verdict, region), None, []
        if spec.split == "lines":
            lines = [clip_box(b, w, h) for b in text_lines(gray, roi, spec.max_lines)]
            found = [b for b in lines if b is not None]
            if not found:
                return self._early(box, spec.unreadable_verdict, region), None, []
            return None, region, found
        return None, region, [pixels]

    def _early(self, box: Box, reason: str, roi: Box | None) -> PartVerdict:
        return PartVerdict(
            box=box, passed=reason in self.per_part.passing, reason=reason, score=1.0, roi=roi
        )

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._judge.close()
            del self._secondary[:]


def _as_box(b: tuple[int, int, int, int]) -> Box:
    return (float(b[0]), float(b[1]), float(b[2]), float(b[3]))


def _pixels(box: Box) -> tuple[int, int, int, int]:
    return round(box[0]), round(box[1]), round(box[2]), round(box[3])


def _part_pixels(box: Box, width: int, height: int) -> tuple[int, int, int, int]:
    if len(box) != 4 or not all(isinstance(v, int | float) and math.isfinite(v) for v in box):
        raise ModelShapeError(f"a part box must be four finite numbers, got {box!r}")
    pixels = clip_box(box, width, height)
    if pixels is None:
        raise ModelShapeError(
            f"part box {tuple(round(v, 1) for v in box)} has nothing inside the "
            f"{width}x{height} frame"
        )
    return pixels
