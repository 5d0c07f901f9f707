"""Output heads: one module per head type; ``make_head`` picks by the description."""

from __future__ import annotations

from edgeconsole.core.errors import ConfigError
from edgeconsole.inference.heads.anomaly import AnomalyHead
from edgeconsole.inference.heads.base import Head, HeadContext
from edgeconsole.inference.heads.classify import ClassifyHead
from edgeconsole.inference.heads.detect import DetectHead
from edgeconsole.inference.heads.orientation import RunFn
from edgeconsole.inference.heads.text_detect import TextDetectHead
from edgeconsole.inference.spec import ModelSpec

__all__ = ["Head", "HeadContext", "make_head"]


def make_head(spec: ModelSpec, orientation_run: RunFn | None = None) -> Head:
    kind = spec.head.type
    if kind == "classify":
        return ClassifyHead(spec)
    if kind == "detect":
        return DetectHead(spec)
    if kind == "anomaly":
        return AnomalyHead(spec)
    if kind == "text-detect":
        return TextDetectHead(spec, orientation_run)
    raise ConfigError(f"head type '{kind}' is not supported", subject=spec.name)
