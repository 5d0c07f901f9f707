"""What every output head shares: the context it reads and the two steps it runs.

A head turns raw output tensors into InferenceResult fields (``decode``: the
timed "postprocess" stage) and then into overlay primitives (``overlay``: the
timed "overlay" stage). Coordinates in results are source-image pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from edgeconsole.core.errors import ConfigError, ModelShapeError
from edgeconsole.core.frames import InferenceResult, OverlayItem
from edgeconsole.inference.preprocess import Geometry
from edgeconsole.inference.spec import ModelSpec


@dataclass
class HeadContext:
    """Everything a head may read for one frame."""

    outputs: dict[str, np.ndarray]
    inputs: np.ndarray  # the tensor the model was fed
    image: np.ndarray | None = None  # the source image (BGR), None for vector data
    geometry: Geometry | None = None  # None for vector data


class Head(Protocol):
    """``decode`` may return private extras (drawn but not part of the result) that the
    engine hands back to ``overlay`` for the same frame."""

    def decode(self, ctx: HeadContext, result: InferenceResult) -> object: ...

    def overlay(self, result: InferenceResult, extras: object = None) -> list[OverlayItem]: ...

    def close(self) -> None: ...


def output_name(spec: ModelSpec) -> str:
    """The output a head reads: ``head.output`` if given, else the first declared output."""
    name = spec.head.params.get("output")
    declared = [t.name for t in spec.outputs]
    if name is None:
        return declared[0]
    if not isinstance(name, str) or name not in declared:
        raise ConfigError(
            f"head.output '{name}' is not one of the declared outputs",
            subject=spec.name,
            hint=f"declared: {', '.join(declared)}",
        )
    return name


def get_output(ctx: HeadContext, name: str) -> np.ndarray:
    try:
        return ctx.outputs[name]
    except KeyError:
        raise ModelShapeError(f"output '{name}' missing from the model's results") from None


def param(params: dict[str, Any], key: str, default: Any) -> Any:
    value = params.get(key, default)
    return default if value is None else value
