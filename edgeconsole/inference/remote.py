"""One remote-inference path: the model runs on an Open Inference Protocol v2 server
(an EdgeConsole gateway agent, Triton, KServe, MLServer); preprocessing, decoding, a
head's helper models and the overlay stay on the laptop.

:class:`RemoteInference` is the local ``InferenceEngine`` with :class:`RemoteModel` as
its main model, so a remote run stamps the same stages as a local one (``infer`` is the
round trip). The live pipeline (``session.gateway_stream.RemoteOipRunner``),
commissioning's sample runner (``commission.runners.GatewaySampleRunner``) and the
per-part line decided on a target (``commission.line_targets``: a gateway, or a serial
device behind the same ``infer`` call) all use it.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from edgeconsole.core.errors import DeviceError
from edgeconsole.core.frames import Frame, InferenceResult
from edgeconsole.inference.engine import InferenceEngine
from edgeconsole.inference.input_check import check_tensor
from edgeconsole.inference.spec import ModelSpec


class OipInfer(Protocol):
    """What is asked of an OIP client (``devices.gateway.oip.OipClient``)."""

    def infer(
        self, model: str, feeds: dict[str, np.ndarray], *, outputs: list[str] | None = None
    ) -> dict[str, np.ndarray]: ...

    def model_metadata(self, model: str) -> dict[str, Any]: ...


class _Where:
    """The ``session.get_providers()`` face of a model that runs elsewhere: it names
    the target, so results and reports say where the model ran."""

    def __init__(self, where: str) -> None:
        self.where = where

    def get_providers(self) -> list[str]:
        return [self.where]


class RemoteModel:
    """The ``ModelRunner`` face the engine and the per-part inspector call:
    ``run(tensor)`` goes to the target (an OIP server, or a device behind the same
    ``infer`` call), the input shape checked first."""

    def __init__(
        self, client: OipInfer, model: str, spec: ModelSpec, *, where: str | None = None
    ) -> None:
        self.client = client
        self.model = model
        self.spec = spec
        self.name = spec.model
        self.input = spec.inputs[0]
        self.input_name = self.input.name
        self.outputs = self.output_names = [o.name for o in spec.outputs]
        self.session = _Where(where or f"remote {model}")

    def check(self) -> dict[str, Any]:
        """The server's metadata of the model; refuses one whose input is not the one
        the laptop's description names."""
        meta = self.client.model_metadata(self.model)
        names = [str(i.get("name")) for i in meta.get("inputs") or [] if isinstance(i, dict)]
        if names and self.input_name not in names:
            raise DeviceError(
                f"model '{self.model}' takes {', '.join(names)}, not '{self.input_name}'",
                subject=self.model,
                hint="the server runs a different model than the one described on the laptop",
            )
        return meta

    def check_input(self, tensor: np.ndarray) -> None:
        check_tensor(self.spec, tensor.shape, subject=self.spec.name)

    def run(self, tensor: np.ndarray) -> dict[str, np.ndarray]:
        self.check_input(tensor)
        out = self.client.infer(self.model, {self.input_name: tensor}, outputs=self.outputs or None)
        missing = [n for n in self.outputs if n not in out]
        if missing:
            raise DeviceError(
                f"the server's answer lacks output(s) {', '.join(missing)}",
                subject=self.model,
                hint="the model served there is not the one described on the laptop",
            )
        return out

    def close(self) -> None:
        pass  # the client is its owner's to close


class RemoteInference:
    """``spec`` run with ``model`` on the server: the local engine's stages and head,
    the server as its model. Checks first that the server's model takes the described
    input. A head's helper model (orientation) runs on the laptop, loaded from
    ``model_bytes`` (a bundle's files) or beside the description."""

    def __init__(
        self,
        spec: ModelSpec,
        client: OipInfer,
        model: str,
        *,
        model_bytes: dict[str, bytes] | None = None,
    ) -> None:
        from edgeconsole.inference.heads import make_head

        self.remote = RemoteModel(client, model, spec)
        self.metadata = self.remote.check()
        self.helper: InferenceEngine | None = None
        if spec.head.orientation is not None:
            self.helper = InferenceEngine.load(spec.head.orientation, model_bytes=model_bytes)
        head = make_head(spec, self.helper.run_tensor if self.helper is not None else None)
        self.engine = InferenceEngine(spec, self.remote, head, [])  # type: ignore[arg-type]

    def process(self, frame: Frame) -> InferenceResult:
        result: InferenceResult = self.engine.process(frame)
        return result

    def close(self) -> None:
        self.engine.close()
        if self.helper is not None:
            self.helper.close()
