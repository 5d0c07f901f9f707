"""Where a sample runs: the one contract a validation needs from a target.

A :class:`SampleRunner` takes one image and returns the model's result with the
stage stamps of that run. Kinds:

- ``local://``: the laptop, onnxruntime through :class:`InferenceEngine`.
- ``gateway://HOST:PORT[?model=NAME]``: the gateway agent (or any OIP v2 server)
  runs the model; the console preprocesses, sends the tensor over
  ``POST /v2/models/NAME/infer`` and decodes the outputs with the same head, so
  the "infer" stage is the gateway's round trip as the line would see it. A
  head's own helper models (the label inspector's orientation classifier) run
  on the laptop.
- ``serial://`` and ``sim://``: refused with the reason: the device's SMP
  application group (devices/serial/README.md, group 65) has no command that
  runs a model on a sample sent by the console (it has list/activate/confirm/
  rollback/self-test/stream/info). Adding one (e.g. cmd 7 "infer": CBOR
  ``{input: bytes, shape, dtype}`` -> ``{outputs: {name: bytes}, infer_us}``,
  chunked like image upload for inputs above the SMP buffer) plugs in here as a
  ``SerialSampleRunner`` without touching the job or the report.
"""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import numpy as np

from edgeconsole.core.clock import now_ns
from edgeconsole.core.errors import ConfigError
from edgeconsole.core.frames import Frame, InferenceResult
from edgeconsole.inference.engine import InferenceEngine
from edgeconsole.session.commission.model_ref import ModelRef


class SampleRunner(Protocol):
    url: str

    def identity(self) -> dict[str, Any]:
        """Who ran the samples: kind, name, versions, what the target says it runs."""
        ...

    def run(self, image: np.ndarray, index: int) -> tuple[InferenceResult, dict[str, int]]:
        """Result and monotonic stage stamps (``<stage>_start``/``_end``, ns)."""
        ...

    def close(self) -> None: ...


class LocalSampleRunner:
    """The laptop: the model in onnxruntime, as ``edgeconsole run`` uses it."""

    def __init__(self, ref: ModelRef, *, threads: int | None = None) -> None:
        self.url = "local://"
        self.ref = ref
        self.threads = threads
        self.engine = InferenceEngine.load(ref.spec, threads=threads, model_bytes=ref.files)

    def identity(self) -> dict[str, Any]:
        import onnxruntime as ort

        return {
            "url": self.url,
            "kind": "local",
            "name": platform.node() or "laptop",
            "platform": platform.platform(),
            "processor": platform.machine(),
            "runtime": f"onnxruntime {ort.__version__}",
            "providers": self.engine.providers,
            "threads": self.threads,
            "model": self.ref.label,
        }

    def run(self, image: np.ndarray, index: int) -> tuple[InferenceResult, dict[str, int]]:
        frame = Frame(index=index, image=image, captured_ns=now_ns(), source="dataset")
        result = self.engine.process(frame)
        return result, frame.stamps

    def close(self) -> None:
        self.engine.close()


class GatewaySampleRunner:
    """A gateway agent runs the model; preprocessing and decoding stay on the console."""

    def __init__(
        self,
        url: str,
        ref: ModelRef,
        *,
        token: str | None = None,
        model: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        from edgeconsole.devices.gateway.target import GatewayTarget
        from edgeconsole.inference.heads import make_head

        self.ref = ref
        self.target = GatewayTarget(url, token, timeout_s=timeout_s)
        self.url = self.target.url
        self._info = self.target.info()
        running = self._info.extra.get("model")
        self.model = model or (str(running) if running else None)
        if not self.model:
            self.target.close()
            raise ConfigError(
                "the gateway runs no model and none was named",
                subject=self.url,
                hint="flash and confirm the bundle first, or add ?model=NAME to the URL",
            )
        meta = self.target.client.model_metadata(self.model)
        inputs = [str(i.get("name")) for i in meta.get("inputs", [])]
        self.input_name = ref.spec.inputs[0].name
        if inputs and self.input_name not in inputs:
            self.target.close()
            raise ConfigError(
                f"gateway model '{self.model}' has inputs {', '.join(inputs)}, not "
                f"'{self.input_name}' as the bundle describes",
                subject=self.url,
                hint="the gateway runs a different model than the bundle under test",
            )
        self._slots = [s.to_json() for s in self.target.slots()]
        self._helper: InferenceEngine | None = None
        orientation_run = None
        if ref.spec.head.orientation is not None:
            self._helper = InferenceEngine.load(ref.spec.head.orientation, model_bytes=ref.files)
            orientation_run = self._helper.run_tensor
        self.head = make_head(ref.spec, orientation_run)

    def identity(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "kind": "gateway",
            **self._info.to_json(),
            "served_model": self.model,
            "slots": self._slots,
            "note": "tensor inference on the gateway over OIP v2; preprocessing, decoding"
            + (" and the orientation helper" if self._helper is not None else "")
            + " on the console",
        }

    def run(self, image: np.ndarray, index: int) -> tuple[InferenceResult, dict[str, int]]:
        from edgeconsole.inference.heads import HeadContext
        from edgeconsole.inference.preprocess import preprocess_image

        st: dict[str, int] = {}
        st["preprocess_start"] = now_ns()
        tensor, geometry = preprocess_image(image, self.ref.spec.preprocess)
        st["preprocess_end"] = st["infer_start"] = now_ns()
        assert self.model is not None
        outputs = self.target.client.infer(self.model, {self.input_name: tensor})
        st["infer_end"] = st["postprocess_start"] = now_ns()
        result = InferenceResult(frame_index=index)
        ctx = HeadContext(outputs=outputs, inputs=tensor, image=image, geometry=geometry)
        extras = self.head.decode(ctx, result)
        st["postprocess_end"] = st["overlay_start"] = now_ns()
        result.overlay = self.head.overlay(result, extras)
        st["overlay_end"] = now_ns()
        return result, st

    def close(self) -> None:
        self.head.close()
        if self._helper is not None:
            self._helper.close()
        self.target.close()


def target_kind(url: str) -> str:
    scheme = urlsplit(url).scheme
    if not scheme:
        raise ConfigError(
            f"not a target URL: {url!r}",
            hint="use local://, gateway://HOST:PORT, serial:///dev/ttyX or sim://",
        )
    return scheme


def open_runner(
    url: str,
    ref: ModelRef,
    *,
    threads: int | None = None,
    token_file: str | Path | None = None,
) -> SampleRunner:
    """The runner for a target URL; refuses kinds that cannot run a sample yet."""
    kind = target_kind(url)
    if kind == "local":
        return LocalSampleRunner(ref, threads=threads)
    if kind in ("gateway", "http"):
        token = None
        if token_file is not None:
            from edgeconsole.devices.gateway.tokens import read_token_file

            token = read_token_file(Path(token_file))
        models = parse_qs(urlsplit(url).query).get("model")
        model = models[0] if models else None
        return GatewaySampleRunner(url.split("?", 1)[0], ref, token=token, model=model)
    if kind in ("serial", "sim"):
        raise ConfigError(
            "serial devices cannot run a console-supplied sample yet",
            subject=url,
            hint="the SMP app group (65) has no infer command; validate the same bundle on "
            "local:// or a gateway, the device checks its golden output on `edgeconsole flash`",
        )
    raise ConfigError(
        f"unknown target kind '{kind}'",
        subject=url,
        hint="use local://, gateway://HOST:PORT",
    )
