"""Where a moving-line run decides its parts: the laptop, a gateway or a serial device.

The per-part pipeline is the same everywhere: the console locates and tracks the
parts on the video and cuts their crops; the crop batch goes through the model
under test where it runs. ``local://``: onnxruntime here. ``gateway://``: the
gateway agent over OIP v2 (the served model must be the bundle's). ``serial://``:
the SMP device's own inference (app group 65, command 7), which must run the
bundle under test. The identity and the checks are those of the sample runners
(``runners.py``); only the model call changes hands.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeconsole.commission.model_ref import ModelRef
from edgeconsole.commission.runners import (
    GatewaySampleRunner,
    LocalSampleRunner,
    SerialSampleRunner,
    open_runner,
    target_kind,
)
from edgeconsole.core.errors import ConfigError, ModelShapeError
from edgeconsole.inference.engine import InferenceEngine
from edgeconsole.inference.part_inspector import PartInspector
from edgeconsole.inference.part_judges import ClassJudge, CropJudge, TextJudge
from edgeconsole.inference.spec import ModelSpec

RemoteRun = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


class _Providers:
    def __init__(self, where: str) -> None:
        self.where = where

    def get_providers(self) -> list[str]:
        return [self.where]


class RemoteModel:
    """The main model of a per-part inspector, run on a target instead of here.

    Quacks like ``inference.engine.ModelRunner`` where the inspector uses it: the
    described input, ``run(tensor)`` with the input shape checked first."""

    def __init__(self, spec: ModelSpec, run: RemoteRun, where: str) -> None:
        self.spec = spec
        self.name = spec.model
        self.input = spec.inputs[0]
        self.output_names = [t.name for t in spec.outputs]
        self.session = _Providers(where)
        self._run = run

    def check_input(self, tensor: np.ndarray) -> None:
        shape = self.input.shape
        if len(shape) != tensor.ndim or any(
            d >= 0 and d != n for d, n in zip(shape, tensor.shape, strict=False)
        ):
            raise ModelShapeError(
                f"input '{self.input.name}' is {list(tensor.shape)} after preprocessing but "
                f"the description requires {list(shape)}",
                subject=self.name,
            )

    def run(self, tensor: np.ndarray) -> dict[str, np.ndarray]:
        self.check_input(tensor)
        return self._run({self.input.name: tensor})


@dataclass
class LineTarget:
    url: str
    inspector: PartInspector
    identity: dict[str, Any]
    _closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for close in self._closers:
            close()
        self._closers.clear()


def _judge(spec: ModelSpec, helpers: list[InferenceEngine], files: Any) -> CropJudge:
    assert spec.per_part is not None
    if spec.head.type == "classify":
        return ClassJudge(spec, spec.per_part)
    if spec.head.type == "text-detect":
        run = None
        if spec.head.orientation is not None:
            helper = InferenceEngine.load(spec.head.orientation, model_bytes=files)
            helpers.append(helper)
            run = helper.run_tensor
        return TextJudge(spec, run)
    raise ConfigError(f"a '{spec.head.type}' head cannot decide parts", subject=spec.name)


def remote_inspector(ref: ModelRef, run: RemoteRun, where: str) -> tuple[PartInspector, Any]:
    """A per-part inspector whose main model runs through ``run`` (helpers stay here)."""
    spec = ref.spec
    helpers: list[InferenceEngine] = []
    judge = _judge(spec, helpers, ref.files)
    inspector = PartInspector(spec, RemoteModel(spec, run, where), judge, [], None)  # type: ignore[arg-type]

    def close() -> None:
        for h in helpers:
            h.close()

    return inspector, close


def open_line_target(
    url: str,
    ref: ModelRef,
    *,
    threads: int | None = None,
    token_file: str | Path | None = None,
) -> LineTarget:
    """The target's per-part inspector; refuses a model without a per_part section."""
    if getattr(ref.spec, "per_part", None) is None:
        raise ConfigError(
            "this model does not decide parts: a moving-line run needs a per_part section",
            subject=ref.label,
            hint="validate it with --dataset, or pick a per-part bundle",
        )
    kind = target_kind(url)
    runner = open_runner(url, ref, threads=1 if threads is None else threads, token_file=token_file)
    try:
        if isinstance(runner, LocalSampleRunner):
            inspector = runner.engine.inspector
            assert inspector is not None
            return LineTarget(runner.url, inspector, runner.identity(), [runner.close])
        if isinstance(runner, GatewaySampleRunner):
            gw = runner
            assert gw.model is not None
            model = gw.model

            def on_gateway(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
                return gw.target.client.infer(model, feeds)

            inspector, close = remote_inspector(ref, on_gateway, f"gateway {gw.url}")
            return LineTarget(gw.url, inspector, gw.identity(), [close, gw.close])
        if isinstance(runner, SerialSampleRunner):
            dev = runner

            def on_device(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
                outputs, _device_us = dev.target.infer(feeds)
                return outputs

            inspector, close = remote_inspector(ref, on_device, f"serial {dev.url}")
            return LineTarget(dev.url, inspector, dev.identity(), [close, dev.close])
    except BaseException:
        runner.close()
        raise
    runner.close()
    raise ConfigError(f"a moving-line run cannot use a '{kind}' target", subject=url)
