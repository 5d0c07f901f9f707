"""The inference engine: a validated onnxruntime session plus preprocess and head.

``InferenceEngine.load`` checks the ONNX model against its description before the
first frame (names, dtypes, ranks, fixed dimensions), so a mismatched model is
refused with a precise message instead of failing somewhere inside onnxruntime.
``process`` stamps every stage on the frame with the monotonic clock; the
orientation classifier of a text-detect head runs inside "postprocess".

A description with a ``per_part`` section runs per part (``part_inspector.py``):
``process`` locates the parts on the frame and decides every complete one from its
crop in one batch; its "preprocess" stage then spans locating, cropping and
preprocessing (the frame's stamps also carry the finer ``locate``/``crop`` pairs).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import onnxruntime as ort

from edgeconsole.core.clock import now_ns
from edgeconsole.core.errors import (
    InferenceOutputError,
    ModelError,
    ModelLoadError,
    ModelShapeError,
)
from edgeconsole.core.frames import Frame, InferenceResult
from edgeconsole.inference.heads import Head, HeadContext, make_head
from edgeconsole.inference.preprocess import preprocess_array, preprocess_image
from edgeconsole.inference.providers import make_ort_session, runtime_info
from edgeconsole.inference.spec import ModelSpec, PreprocessSpec, TensorSpec

if TYPE_CHECKING:
    from edgeconsole.inference.part_inspector import PartInspector

#: onnxruntime's type strings for the dtypes a description may name.
ORT_DTYPES: dict[str, str] = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(uint8)": "uint8",
    "tensor(int8)": "int8",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(double)": "float64",
    "tensor(bool)": "bool",
}


def _dims(shape: Sequence[object]) -> list[int]:
    """onnxruntime shape (ints, symbolic names, None) as ints with -1 for dynamic."""
    return [d if isinstance(d, int) and d >= 0 else -1 for d in shape]


def _fmt(shape: Sequence[int]) -> str:
    return "[" + ", ".join("?" if d < 0 else str(d) for d in shape) + "]"


def _compare(kind: str, described: TensorSpec, actual: ort.NodeArg, model: str) -> None:
    dtype = ORT_DTYPES.get(actual.type, actual.type)
    if dtype != described.dtype:
        raise ModelShapeError(
            f"{kind} '{described.name}' is {dtype} in the model but {described.dtype} in the "
            "description",
            subject=model,
            hint="fix the dtype in the model description",
        )
    dims = _dims(actual.shape)
    if len(dims) != len(described.shape):
        raise ModelShapeError(
            f"{kind} '{described.name}' has rank {len(dims)} {_fmt(dims)} in the model but "
            f"rank {len(described.shape)} {_fmt(described.shape)} in the description",
            subject=model,
            hint="fix the shape in the model description",
        )
    for axis, (m, d) in enumerate(zip(dims, described.shape, strict=True)):
        if m >= 0 and d >= 0 and m != d:
            raise ModelShapeError(
                f"{kind} '{described.name}' dimension {axis} is {m} in the model but {d} in the "
                f"description (model {_fmt(dims)}, description {_fmt(described.shape)})",
                subject=model,
                hint="fix the shape in the model description",
            )


def expected_image_shape(pre: PreprocessSpec) -> tuple[int, ...] | None:
    """The tensor shape preprocessing produces for an image, -1 where it depends on it."""
    c = 1 if pre.channel_order == "GRAY" else 3
    if pre.resize in ("stretch", "letterbox", "fit-height") and pre.size is not None:
        h, w = pre.size
    else:
        h = w = -1
    if pre.flatten or pre.layout == "NC":
        return (1, h * w * c if h > 0 else -1)
    return (1, c, h, w) if pre.layout == "NCHW" else (1, h, w, c)


class ModelRunner:
    """One validated onnxruntime session, run with shape and finiteness checks."""

    def __init__(self, spec: ModelSpec, session: ort.InferenceSession) -> None:
        self.spec = spec
        self.session = session
        self.name = spec.model
        self._validate()
        self.input = spec.inputs[0]
        self.output_names = [t.name for t in spec.outputs]
        self._model_input = _dims(session.get_inputs()[0].shape)

    def _validate(self) -> None:
        model_inputs = {a.name: a for a in self.session.get_inputs()}
        model_outputs = {a.name: a for a in self.session.get_outputs()}
        if len(self.spec.inputs) != 1:
            raise ModelShapeError(
                f"the description lists {len(self.spec.inputs)} inputs; EdgeConsole feeds "
                "exactly one",
                subject=self.name,
            )
        for t in self.spec.inputs:
            if t.name not in model_inputs:
                raise ModelShapeError(
                    f"input '{t.name}' is described but the model has no such input",
                    subject=self.name,
                    hint=f"model inputs: {', '.join(model_inputs)}",
                )
            _compare("input", t, model_inputs[t.name], self.name)
        undescribed = sorted(set(model_inputs) - {t.name for t in self.spec.inputs})
        if undescribed:
            raise ModelShapeError(
                f"model input(s) {', '.join(undescribed)} are not in the description",
                subject=self.name,
                hint="every model input must be described",
            )
        for t in self.spec.outputs:
            if t.name not in model_outputs:
                raise ModelShapeError(
                    f"output '{t.name}' is described but the model has no such output",
                    subject=self.name,
                    hint=f"model outputs: {', '.join(model_outputs)}",
                )
            _compare("output", t, model_outputs[t.name], self.name)
        t = self.spec.inputs[0]
        pre = self.spec.preprocess
        if pre.dtype != t.dtype:
            raise ModelShapeError(
                f"preprocess produces {pre.dtype} but input '{t.name}' is {t.dtype}",
                subject=self.name,
                hint="set preprocess.dtype to the input's dtype",
            )

    @property
    def model_dims(self) -> tuple[int, ...]:
        """The graph's first input shape, -1 for a dynamic dimension."""
        return tuple(self._model_input)

    def check_input(self, tensor: np.ndarray) -> None:
        """Refuse data the model cannot take, naming the dimension, before onnxruntime does."""
        t = self.input
        for what, shape in (("description", t.shape), ("model", tuple(self._model_input))):
            ok = len(shape) == tensor.ndim and all(
                d < 0 or d == n for d, n in zip(shape, tensor.shape, strict=False)
            )
            if not ok:
                raise ModelShapeError(
                    f"input '{t.name}' is {_fmt(tensor.shape)} after preprocessing but the "
                    f"{what} requires {_fmt(shape)}",
                    subject=self.name,
                    hint="check preprocess size/layout against the model's input shape",
                )

    def run(self, tensor: np.ndarray) -> dict[str, np.ndarray]:
        self.check_input(tensor)
        try:
            values = self.session.run(self.output_names, {self.input.name: tensor})
        except Exception as exc:  # onnxruntime's pybind exceptions have no common base
            line = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            if "INVALID_ARGUMENT" in line or "dimension" in line.lower() or "shape" in line:
                raise ModelShapeError(
                    f"the model refused input {_fmt(tensor.shape)}: {line}", subject=self.name
                ) from exc
            raise ModelError(f"inference failed: {line}", subject=self.name) from exc
        outputs = dict(zip(self.output_names, values, strict=True))
        for name, value in outputs.items():
            arr = np.asarray(value)
            if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
                bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
                kinds = "NaN" if np.isnan(arr).any() else "Inf"
                if np.isnan(arr).any() and np.isinf(arr).any():
                    kinds = "NaN and Inf"
                raise InferenceOutputError(
                    f"output '{name}' contains {kinds} ({bad} of {arr.size} values)",
                    subject=self.name,
                    hint="the model or its input is broken; check the preprocessing and the "
                    "model's export",
                )
        return outputs


def _open(
    spec: ModelSpec,
    threads: int | None,
    providers: list[str] | None,
    model_bytes: dict[str, bytes] | None,
) -> ModelRunner:
    if model_bytes is not None:
        data = model_bytes.get(spec.model)
        if data is None:
            raise ModelLoadError(
                f"model file '{spec.model}' is not among the supplied files",
                subject=spec.name,
                hint=f"supplied: {', '.join(sorted(model_bytes)) or 'none'}",
            )
        session = make_ort_session(data, threads=threads, providers=providers, name=spec.model)
    else:
        session = make_ort_session(spec.model_path, threads=threads, providers=providers)
    return ModelRunner(spec, session)


class InferenceEngine:
    """Runs one described model on frames. Use from one thread at a time."""

    def __init__(
        self,
        spec: ModelSpec,
        main: ModelRunner,
        head: Head | None,
        secondary: list[ModelRunner],
        inspector: PartInspector | None = None,
        threads: int | None = None,
    ) -> None:
        self.spec = spec
        self._main = main
        self._head = head
        self._secondary = secondary
        self.inspector = inspector
        self.threads = threads
        self._lock = threading.Lock()
        self._closed = False

    @classmethod
    def load(
        cls,
        spec: ModelSpec,
        *,
        threads: int | None = None,
        providers: list[str] | None = None,
        model_bytes: dict[str, bytes] | None = None,
    ) -> InferenceEngine:
        """Open and validate the model (and a head's own models, e.g. orientation)."""
        from edgeconsole.inference.input_check import check_input_fit

        if spec.per_part is not None:
            from edgeconsole.inference.part_inspector import PartInspector

            inspector = PartInspector.load(
                spec, threads=threads, providers=providers, model_bytes=model_bytes
            )
            check_input_fit(spec, inspector.runner.model_dims)
            return cls(spec, inspector.runner, None, [], inspector, threads)
        main = _open(spec, threads, providers, model_bytes)
        # The preprocessing must produce what the model takes (image models with none are
        # refused unless raw): refused at load, naming both shapes, never run quietly.
        check_input_fit(spec, main.model_dims)
        expected = expected_image_shape(spec.preprocess)
        if expected is not None and all(d > 0 for d in expected):
            # A fixed-size resize tells us the tensor shape now: refuse a mismatch at load.
            main.check_input(np.empty(expected, dtype=np.uint8))
        secondary: list[ModelRunner] = []
        orientation_run = None
        if spec.head.orientation is not None:
            runner = _open(spec.head.orientation, threads, providers, model_bytes)
            secondary.append(runner)
            orientation_run = runner.run
        head = make_head(spec, orientation_run)
        return cls(spec, main, head, secondary, None, threads)

    @property
    def providers(self) -> list[str]:
        return list(self._main.session.get_providers())

    @property
    def runtime(self) -> dict[str, Any]:
        """Provider, thread count and onnxruntime version running the model (providers.py)."""
        return runtime_info(self._main.session, self.threads)

    @property
    def input_name(self) -> str:
        return self._main.input.name

    def run_tensor(self, tensor: np.ndarray) -> dict[str, np.ndarray]:
        """Run the main model on a ready tensor (golden checks, benchmarks)."""
        with self._lock:
            self._check_open()
            return self._main.run(tensor)

    def process(self, frame: Frame) -> InferenceResult:
        """Preprocess, infer, decode and build overlay primitives for one frame."""
        with self._lock:
            self._check_open()
            if self.inspector is not None:
                return self._process_parts(frame, self.inspector)
            assert self._head is not None
            st = frame.stamps
            st["preprocess_start"] = now_ns()
            tensor, geometry = preprocess_image(frame.image, self.spec.preprocess)
            st["preprocess_end"] = st["infer_start"] = now_ns()
            outputs = self._main.run(tensor)
            st["infer_end"] = st["postprocess_start"] = now_ns()
            result = InferenceResult(frame_index=frame.index)
            ctx = HeadContext(outputs=outputs, inputs=tensor, image=frame.image, geometry=geometry)
            extras = self._head.decode(ctx, result)
            st["postprocess_end"] = st["overlay_start"] = now_ns()
            result.overlay = self._head.overlay(result, extras)
            st["overlay_end"] = now_ns()
            return result

    def _process_parts(self, frame: Frame, inspector: PartInspector) -> InferenceResult:
        from edgeconsole.inference.part_overlay import part_overlay

        st = frame.stamps
        parts = inspector.locate(frame.image, st)
        complete = [p.box for p in parts if p.complete]
        verdicts = inspector.decide(frame.image, complete, st)
        # Locating and cropping are preprocessing as far as the frame's stages go.
        st["preprocess_start"] = st["locate_start"]
        result = InferenceResult(frame_index=frame.index)
        result.parts.extend(verdicts)
        for v in verdicts:
            result.detections.extend(v.detections)
        st["overlay_start"] = now_ns()
        result.overlay = part_overlay(parts, verdicts)
        st["overlay_end"] = now_ns()
        return result

    def process_array(
        self, data: np.ndarray, index: int = 0, stamps: dict[str, int] | None = None
    ) -> InferenceResult:
        """Run on non-image data (a telemetry window); same stages, same stamps."""
        with self._lock:
            self._check_open()
            if self._head is None:
                raise ModelError(
                    "a per-part model inspects images, not data windows", subject=self.spec.name
                )
            st = stamps if stamps is not None else {}
            st["preprocess_start"] = now_ns()
            tensor = preprocess_array(data, self.spec.preprocess)
            st["preprocess_end"] = st["infer_start"] = now_ns()
            outputs = self._main.run(tensor)
            st["infer_end"] = st["postprocess_start"] = now_ns()
            result = InferenceResult(frame_index=index)
            extras = self._head.decode(HeadContext(outputs=outputs, inputs=tensor), result)
            st["postprocess_end"] = st["overlay_start"] = now_ns()
            result.overlay = self._head.overlay(result, extras)
            st["overlay_end"] = now_ns()
            return result

    def _check_open(self) -> None:
        if self._closed:
            raise ModelError("the inference engine is closed", subject=self.spec.name)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._head is not None:
                self._head.close()
            if self.inspector is not None:
                self.inspector.close()
            # Dropping the sessions frees onnxruntime's arenas now rather than at GC time.
            del self._secondary[:]
