"""Anomaly head: a score (the model's own, or the reconstruction error) against a threshold."""

from __future__ import annotations

import numpy as np

from edgeconsole.core.errors import ConfigError, ModelShapeError
from edgeconsole.core.frames import AnomalyScore, InferenceResult, OverlayBanner, OverlayItem
from edgeconsole.inference.heads.base import HeadContext, get_output, output_name, param
from edgeconsole.inference.spec import ModelSpec

SCORES = ("value", "mse")


class AnomalyHead:
    def __init__(self, spec: ModelSpec) -> None:
        p = spec.head.params
        if "threshold" not in p:
            raise ConfigError("an anomaly head needs a threshold", subject=spec.name)
        self.threshold = float(p["threshold"])
        self.output = output_name(spec)
        self.score = param(p, "score", "value")
        if self.score not in SCORES:
            raise ConfigError(
                f"head.score '{self.score}' is not supported",
                subject=spec.name,
                hint=f"one of {', '.join(SCORES)}",
            )
        labels = spec.head.labels or ("normal", "anomaly")
        if len(labels) != 2:
            raise ConfigError(
                "an anomaly head takes two labels (normal, anomaly)", subject=spec.name
            )
        self.labels = labels

    def decode(self, ctx: HeadContext, result: InferenceResult) -> None:
        out = np.asarray(get_output(ctx, self.output), dtype=np.float64)
        if self.score == "value":
            if out.size < 1:
                raise ModelShapeError(f"output '{self.output}' is empty")
            score = float(out.reshape(-1)[0])
        else:
            # An autoencoder: the score is how badly it reconstructs its input.
            x = np.asarray(ctx.inputs, dtype=np.float64)
            if x.size != out.size:
                raise ModelShapeError(
                    f"output '{self.output}' has {out.size} values but the "
                    f"input has {x.size}; 'mse' needs a reconstruction"
                )
            score = float(np.mean((out.reshape(-1) - x.reshape(-1)) ** 2))
        result.anomaly = AnomalyScore(score=score, threshold=self.threshold)

    def overlay(self, result: InferenceResult, extras: object = None) -> list[OverlayItem]:
        a = result.anomaly
        if a is None:
            return []
        if a.is_anomaly:
            return [
                OverlayBanner(f"{self.labels[1].upper()} {a.score:.4g} > {a.threshold:.4g}", "fail")
            ]
        return [OverlayBanner(f"{self.labels[0]} {a.score:.4g} ≤ {a.threshold:.4g}", "ok")]

    def close(self) -> None:
        pass
