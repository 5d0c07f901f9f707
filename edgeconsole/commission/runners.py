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
- ``serial:///dev/ttyX``: an SMP device runs the model in its active slot on
  a tensor the console sends (app group 65, command 7 "infer",
  devices/serial/README.md). Preprocessing and decoding stay on the console,
  as for a gateway. The SMP round trip is split in two stages: ``infer`` is
  the time the device reports for its own model run, ``transfer`` the rest
  (framing, the link both ways, CBOR): the line sees their sum. The device
  must be running the bundle under test (same file hash): flash it first.
- ``sim://`` (the embedded simulator) is refused with the way round: start
  ``edgeconsole sim serial`` and validate ``serial://`` its path.
"""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edgeconsole.commission.model_ref import ModelRef
from edgeconsole.core.clock import now_ns
from edgeconsole.core.errors import ConfigError
from edgeconsole.core.frames import Frame, InferenceResult
from edgeconsole.devices.ref import TargetRef
from edgeconsole.inference.engine import InferenceEngine
from edgeconsole.inference.input_check import check_tensor


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
    """A gateway agent runs the model; preprocessing and decoding stay on the console
    (``inference.remote``: the one remote path, the live pipeline's too)."""

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
        from edgeconsole.inference.remote import RemoteInference

        self.ref = ref
        self.target = GatewayTarget(url, token, timeout_s=timeout_s)
        try:  # any refusal below (wrong token, wrong model) closes the client's session
            self.url = self.target.url
            self._info = self.target.info()
            running = self._info.extra.get("model")
            self.model = model or (str(running) if running else None)
            if not self.model:
                raise ConfigError(
                    "the gateway runs no model and none was named",
                    subject=self.url,
                    hint="flash and confirm the bundle first, or add ?model=NAME to the URL",
                )
            self._slots = [s.to_json() for s in self.target.slots()]
            self.remote = RemoteInference(
                ref.spec, self.target.client, self.model, model_bytes=ref.files
            )
        except BaseException:
            self.target.close()
            raise

    def identity(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "kind": "gateway",
            **self._info.to_json(),
            "served_model": self.model,
            "slots": self._slots,
            "note": "tensor inference on the gateway over OIP v2; preprocessing, decoding"
            + (" and the orientation helper" if self.remote.helper is not None else "")
            + " on the console",
        }

    def run(self, image: np.ndarray, index: int) -> tuple[InferenceResult, dict[str, int]]:
        frame = Frame(index=index, image=image, captured_ns=now_ns(), source="dataset")
        result = self.remote.process(frame)
        return result, frame.stamps

    def close(self) -> None:
        try:
            self.remote.close()
        finally:
            self.target.close()


class SerialSampleRunner:
    """A serial device runs the model (SMP app group 65, cmd 7); the console pre- and
    post-processes. Stages: ``transfer`` = round trip minus the device's own time,
    ``infer`` = the device's own inference time as it reports it."""

    def __init__(self, url: str, ref: ModelRef, *, timeout_s: float = 5.0) -> None:
        from edgeconsole.devices.serial.client import SerialTarget
        from edgeconsole.inference.heads import make_head

        self.ref = ref
        self.target = SerialTarget(url, timeout_s=timeout_s)
        self.url = self.target.url
        self._helper: InferenceEngine | None = None
        try:
            self._info = self.target.connect()
            if not self.target.smp:
                raise ConfigError(
                    "the device does not speak SMP: it cannot run a sample",
                    subject=self.url,
                    hint="flash an SMP-enabled firmware, or validate on local://",
                )
            self._slots = self.target.slots()
            self._check_running()
            self.input_name = ref.spec.inputs[0].name
            orientation_run = None
            if ref.spec.head.orientation is not None:
                self._helper = InferenceEngine.load(
                    ref.spec.head.orientation, model_bytes=ref.files
                )
                orientation_run = self._helper.run_tensor
            self.head = make_head(ref.spec, orientation_run)
        except BaseException:
            if self._helper is not None:
                self._helper.close()
            self.target.close()
            raise

    def _check_running(self) -> None:
        """The device must run exactly the bundle under test (or say what it runs)."""
        running = next((s for s in self._slots if s.running), None)
        want = self.ref.identity.get("bundle_sha256")
        flash = f"edgeconsole flash {self.url} {self.ref.path} --trust DIR"
        if running is None:
            raise ConfigError("the device runs no bundle", subject=self.url, hint=flash)
        if want is not None and running.sha256 != want:
            raise ConfigError(
                f"the device runs {running.bundle_id} v{running.version} (slot "
                f"{running.index}, sha256 {running.sha256[:12]}), not {self.ref.label} "
                f"(sha256 {str(want)[:12]})",
                subject=self.url,
                hint=f"flash the bundle under test first: {flash}",
            )
        if want is None and running.bundle_id not in (self.ref.spec.name, ""):
            raise ConfigError(
                f"the device runs {running.bundle_id} v{running.version}, not {self.ref.label}",
                subject=self.url,
                hint="validate a signed bundle the device runs, or flash it first",
            )

    def identity(self) -> dict[str, Any]:
        assert self._info is not None
        running = next((s for s in self._slots if s.running), None)
        return {
            "kind": "serial",
            **self._info.to_json(),
            "running": None if running is None else running.to_json(),
            "slots": [s.to_json() for s in self._slots],
            "note": "tensor inference on the device over SMP (app group 65, cmd 7); "
            "preprocessing, decoding"
            + (" and the orientation helper" if self._helper is not None else "")
            + " on the console. Latency is the SMP round trip: stage 'infer' is the "
            "device's own inference time as it reports it, stage 'transfer' the rest "
            "(framing and the serial link, both ways)",
        }

    def run(self, image: np.ndarray, index: int) -> tuple[InferenceResult, dict[str, int]]:
        from edgeconsole.inference.heads import HeadContext
        from edgeconsole.inference.preprocess import preprocess_image

        st: dict[str, int] = {}
        st["preprocess_start"] = now_ns()
        tensor, geometry = preprocess_image(image, self.ref.spec.preprocess)
        # The device may take any size its graph allows; the description says what it
        # was made for: a tensor of another size is refused here, naming both.
        check_tensor(self.ref.spec, tensor.shape, subject=self.ref.label)
        st["preprocess_end"] = sent = now_ns()
        outputs, device_us = self.target.infer({self.input_name: tensor})
        back = now_ns()
        # The device's clock measured its part; the link is what is left of the round trip.
        device_ns = min(device_us * 1000, back - sent)
        st["transfer_start"] = sent
        st["transfer_end"] = st["infer_start"] = back - device_ns
        st["infer_end"] = st["postprocess_start"] = back
        result = InferenceResult(frame_index=index)
        ctx = HeadContext(outputs=outputs, inputs=tensor, image=image, geometry=geometry)
        extras = self.head.decode(ctx, result)
        st["postprocess_end"] = st["overlay_start"] = now_ns()
        result.overlay = self.head.overlay(result, extras)
        st["overlay_end"] = now_ns()
        return result, st

    def close(self) -> None:
        if hasattr(self, "head"):
            self.head.close()
        if self._helper is not None:
            self._helper.close()
        self.target.close()


def target_kind(url: str) -> str:
    if "://" not in url:  # a bare path is a serial port elsewhere; here a URL is asked for
        raise ConfigError(
            f"not a target URL: {url!r}",
            hint="use local://, gateway://HOST:PORT, serial:///dev/ttyX or sim://",
        )
    return TargetRef.parse(url).kind


def open_runner(
    url: str,
    ref: ModelRef,
    *,
    threads: int | None = None,
    token_file: str | Path | None = None,
) -> SampleRunner:
    """The runner for a target URL; refuses kinds that cannot run a sample yet."""
    kind = target_kind(url)
    target = TargetRef.parse(url)
    if kind == "local":
        return LocalSampleRunner(ref, threads=threads)
    if kind == "gateway":
        from edgeconsole.devices.gateway.tokens import resolve

        token = resolve(target.hostport, token_file=token_file)
        return GatewaySampleRunner(target.url, ref, token=token, model=target.model)
    if kind == "serial":
        return SerialSampleRunner(url, ref)
    if kind == "sim":
        raise ConfigError(
            "validate the virtual device through its serial port",
            subject=url,
            hint="start `edgeconsole sim serial` and use the serial:// URL of the path it prints",
        )
    raise ConfigError(
        f"unknown target kind '{kind}'",
        subject=url,
        hint="use local://, gateway://HOST:PORT or serial:///dev/ttyX",
    )
