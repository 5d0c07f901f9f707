"""Orientation of text regions: crop each region upright-rectified, classify all in one run.

The crop is a perspective warp straight from the source image into the classifier's
input size (PP-OCR's orientation model takes 3 x 48 x 192): with resize ``stretch`` the
region fills the input; otherwise (``pad``/``letterbox``) it keeps its aspect, fills
the height and sits at the left, padded with ``pad_value`` as PaddleOCR does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from edgeconsole.core.errors import ConfigError
from edgeconsole.inference.heads.classify import ClassifyHead
from edgeconsole.inference.preprocess import convert_channels, to_tensor
from edgeconsole.inference.spec import ModelSpec

#: Runs the classifier on a batch tensor and returns its outputs by name.
RunFn = Callable[[np.ndarray], dict[str, np.ndarray]]


@dataclass(frozen=True, slots=True)
class Orientation:
    label: str
    score: float
    rotated: bool


def _crop_size(quad: np.ndarray) -> tuple[float, float]:
    w = max(np.linalg.norm(quad[0] - quad[1]), np.linalg.norm(quad[2] - quad[3]))
    h = max(np.linalg.norm(quad[0] - quad[3]), np.linalg.norm(quad[1] - quad[2]))
    return float(w), float(h)


class OrientationClassifier:
    """Decides for each text quad (source pixels) whether its text is upside down."""

    def __init__(self, spec: ModelSpec, run: RunFn) -> None:
        pre = spec.preprocess
        if pre.size is None:
            raise ConfigError(
                "the orientation model needs preprocess.size [height, width]", subject=spec.name
            )
        if pre.layout == "NC" or pre.flatten:
            raise ConfigError(
                "the orientation model must take images (NCHW or NHWC)", subject=spec.name
            )
        self.spec = spec
        self.size = pre.size
        self.head = ClassifyHead(spec)
        self.threshold = self.head.threshold
        if "180" not in self.head.labels:
            raise ConfigError(
                "the orientation model's labels must include '180'",
                subject=spec.name,
                hint=f"labels: {list(self.head.labels)}",
            )
        self.rotated_index = self.head.labels.index("180")
        self.run = run

    def crops(self, image: np.ndarray, quads: list[np.ndarray]) -> np.ndarray:
        """N x H x W x 3 uint8 crops, each region warped upright into the input size."""
        th, tw = self.size
        pre = self.spec.preprocess
        batch = np.full(
            (len(quads), th, tw, image.shape[2] if image.ndim == 3 else 1),
            pre.pad_value,
            dtype=np.uint8,
        )
        for i, quad in enumerate(quads):
            src = quad.astype(np.float32)
            w, h = _crop_size(src)
            if w < 1 or h < 1:
                continue
            if h / w >= 1.5:
                # A tall region holds vertical text: turn it a quarter (as PaddleOCR does).
                src = src[[1, 2, 3, 0]]
                w, h = h, w
            out_w = tw if pre.resize == "stretch" else min(tw, max(1, math.ceil(th * w / h)))
            dst = np.array([[0, 0], [out_w, 0], [out_w, th], [0, th]], dtype=np.float32)
            m = cv2.getPerspectiveTransform(src, dst)
            warped = cv2.warpPerspective(
                image, m, (out_w, th), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
            )
            batch[i, :, :out_w] = warped.reshape(th, out_w, -1)
        return batch

    def classify(self, image: np.ndarray, quads: list[np.ndarray]) -> list[Orientation]:
        if not quads:
            return []
        crops = self.crops(image, quads)
        pre = self.spec.preprocess
        pixels = np.stack([convert_channels(c, pre.channel_order) for c in crops])
        # to_tensor adds a batch axis of 1 to one image; fold the batch into H instead.
        n, h, w, c = pixels.shape
        tensor = to_tensor(pixels.reshape(n * h, w, c), pre)
        if pre.layout == "NCHW":
            tensor = tensor.reshape(c, n, h, w).transpose(1, 0, 2, 3)
        else:
            tensor = tensor.reshape(n, h, w, c)
        outputs = self.run(np.ascontiguousarray(tensor))
        probs = self.head.probabilities(outputs[self.head.output])
        best = probs.argmax(axis=1)
        result = []
        for i in range(n):
            k = int(best[i])
            score = float(probs[i, k])
            rotated = k == self.rotated_index and score >= self.threshold
            result.append(Orientation(self.head.labels[k], score, rotated))
        return result
