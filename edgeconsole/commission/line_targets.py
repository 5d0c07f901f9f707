"""Where a moving-line run decides its parts: the laptop, a gateway or a serial device.

The per-part pipeline is the same everywhere: the console locates and tracks the
parts on the video and cuts their crops; the crop batch goes through the model
under test where it runs. ``local://``: onnxruntime here. ``gateway://``: the
gateway agent over OIP v2 (the served model must be the bundle's). ``serial://``:
the SMP device's own inference (app group 65, command 7), which must run the
bundle under test. Both remote kinds go through ``inference.remote.RemoteModel``,
the one remote-inference path. The identity and the checks are those of the sample runners
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
from edgeconsole.core.errors import ConfigError
from edgeconsole.inference.engine import InferenceEngine
from edgeconsole.inference.part_inspector import PartInspector
from edgeconsole.inference.part_judges import ClassJudge, CropJudge, TextJudge
from edgeconsole.inference.remote import RemoteModel
from edgeconsole.inference.spec import ModelSpec


class _DeviceInfer:
    """A serial device's own inference (SMP app group 65) behind the OIP ``infer`` call
    that ``inference.remote.RemoteModel`` makes: the device runs the one model it holds."""

    def __init__(self, runner: SerialSampleRunner) -> None:
        self.runner = runner

    def infer(
        self, model: str, feeds: dict[str, np.ndarray], *, outputs: list[str] | None = None
    ) -> dict[str, np.ndarray]:
        out, _device_us = self.runner.target.infer(feeds)
        return dict(out)

    def model_metadata(self, model: str) -> dict[str, Any]:
        return {}  # the sample runner has checked the device runs the bundle under test


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


def remote_inspector(ref: ModelRef, model: RemoteModel) -> tuple[PartInspector, Any]:
    """A per-part inspector whose main model runs on the target (helpers stay here)."""
    spec = ref.spec
    helpers: list[InferenceEngine] = []
    judge = _judge(spec, helpers, ref.files)
    inspector = PartInspector(spec, model, judge, [], None)  # type: ignore[arg-type]

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
            assert runner.model is not None
            model = RemoteModel(
                runner.target.client, runner.model, ref.spec, where=f"gateway {runner.url}"
            )
            inspector, close = remote_inspector(ref, model)
            return LineTarget(runner.url, inspector, runner.identity(), [close, runner.close])
        if isinstance(runner, SerialSampleRunner):
            model = RemoteModel(
                _DeviceInfer(runner), ref.label, ref.spec, where=f"serial {runner.url}"
            )
            inspector, close = remote_inspector(ref, model)
            return LineTarget(runner.url, inspector, runner.identity(), [close, runner.close])
    except BaseException:
        runner.close()
        raise
    runner.close()
    raise ConfigError(f"a moving-line run cannot use a '{kind}' target", subject=url)
