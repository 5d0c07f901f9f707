"""Classification head: optional softmax, top-k with labels, a confidence threshold."""

from __future__ import annotations

import numpy as np

from edgeconsole.core.errors import ModelShapeError
from edgeconsole.core.frames import Classification, InferenceResult, OverlayBanner, OverlayItem
from edgeconsole.inference.heads.base import HeadContext, get_output, output_name, param
from edgeconsole.inference.spec import ModelSpec


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    z = logits - logits.max(axis=axis, keepdims=True)
    e = np.exp(z)
    out: np.ndarray = e / e.sum(axis=axis, keepdims=True)
    return out


def scores_matrix(raw: np.ndarray, n_labels: int, name: str) -> np.ndarray:
    """Any (N, C), (C,) or (N, C, 1, 1) output as an (N, C) float matrix."""
    x = np.asarray(raw, dtype=np.float32)
    if x.ndim == 1:
        x = x[None]
    elif x.ndim > 2:
        x = x.reshape(x.shape[0], -1)
    if x.shape[1] != n_labels:
        raise ModelShapeError(
            f"output '{name}' has {x.shape[1]} classes but the description has {n_labels} labels"
        )
    return x


class ClassifyHead:
    def __init__(self, spec: ModelSpec) -> None:
        self.labels = spec.head.labels
        p = spec.head.params
        self.output = output_name(spec)
        self.top_k = max(1, min(int(param(p, "top_k", 5)), len(self.labels)))
        self.threshold = float(param(p, "threshold", 0.0))
        self.softmax = bool(param(p, "softmax", False))

    def probabilities(self, raw: np.ndarray) -> np.ndarray:
        x = scores_matrix(raw, len(self.labels), self.output)
        return softmax(x) if self.softmax else x

    def decode(self, ctx: HeadContext, result: InferenceResult) -> None:
        probs = self.probabilities(get_output(ctx, self.output))[0]
        order = np.argsort(-probs, kind="stable")[: self.top_k]
        topk = tuple((self.labels[i], float(probs[i])) for i in order)
        best_label, best = topk[0]
        result.classification = Classification(label=best_label, score=best, topk=topk)

    def overlay(self, result: InferenceResult, extras: object = None) -> list[OverlayItem]:
        c = result.classification
        if c is None:
            return []
        confident = c.score >= self.threshold
        text = f"{c.label} {c.score:.2f}"
        if not confident:
            text += f" (below {self.threshold:.2f})"
        return [OverlayBanner(text=text, role="info" if confident else "warn")]

    def close(self) -> None:
        pass
