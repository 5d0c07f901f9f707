"""INT8 quantization (static QDQ and dynamic) and the FP32-vs-INT8 comparison.

Why here and not in ``bundles``: static quantization calibrates on data fed
through the model's own preprocessing (``inference.preprocess``), and bundles
must not import inference. The bundle builder takes the bytes this module makes;
the CLI composes the two.

INT8 is not always faster (DESIGN section 9): :func:`compare_variants` measures
every variant in one run and the recommendation follows the measurement.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnxruntime as ort

from edgeconsole.core.errors import ConfigError, ModelError
from edgeconsole.inference.bench import bench_session
from edgeconsole.inference.preprocess import preprocess_array, preprocess_image
from edgeconsole.inference.providers import make_ort_session
from edgeconsole.inference.spec import ModelSpec

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp")
MAX_CALIB_FILES = 10_000


def load_calibration(directory: Path, spec: ModelSpec, limit: int = 64) -> list[np.ndarray]:
    """Input tensors from a folder of images or ``.npy`` arrays, through the model's own
    preprocessing, in sorted file order (so a calibration run is repeatable)."""
    if not directory.is_dir():
        raise ConfigError("calibration folder not found", subject=str(directory))
    files = sorted(
        p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in (*IMAGE_EXTS, ".npy")
    )[:MAX_CALIB_FILES]
    pre = spec.preprocess
    out: list[np.ndarray] = []
    for p in files:
        if len(out) >= limit:
            break
        if p.suffix.lower() == ".npy":
            try:
                arr = np.load(p, allow_pickle=False)
            except (ValueError, OSError) as exc:
                raise ConfigError(f"not a readable .npy array: {exc}", subject=str(p)) from exc
            # A stack of samples along axis 0: 3-D for vectors/windows, 4-D for images.
            stacked = arr.ndim >= (3 if pre.resize == "none" else 4)
            for a in arr if stacked else [arr]:
                if len(out) >= limit:
                    break
                a = np.asarray(a)
                out.append(
                    preprocess_array(a, pre)
                    if pre.resize == "none"
                    else preprocess_image(a, pre)[0]
                )
        else:
            flag = cv2.IMREAD_GRAYSCALE if pre.channel_order == "GRAY" else cv2.IMREAD_COLOR
            img = cv2.imread(str(p), flag)
            if img is None:
                raise ConfigError("image cannot be decoded", subject=str(p))
            out.append(preprocess_image(img, pre)[0])
    if not out:
        raise ConfigError(
            "calibration folder holds no usable images or .npy files",
            subject=str(directory),
            hint=f"put {', '.join(IMAGE_EXTS)} or .npy files in it",
        )
    return out


class _Reader:
    """onnxruntime's CalibrationDataReader protocol over a list of tensors."""

    def __init__(self, name: str, samples: list[np.ndarray]) -> None:
        self._it = iter([{name: s} for s in samples])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._it, None)


@dataclass
class QuantizedModel:
    mode: str
    data: bytes
    info: dict[str, Any] = field(default_factory=dict)


def _pre_process(src: Path, dst: Path, notes: list[str]) -> Path:
    from onnxruntime.quantization.shape_inference import quant_pre_process  # needs sympy

    try:
        quant_pre_process(str(src), str(dst))
        return dst
    except Exception as exc:  # symbolic shape inference fails on some graphs
        notes.append(
            f"quant_pre_process with symbolic shapes failed ({type(exc).__name__}); retried without"
        )
    try:
        quant_pre_process(str(src), str(dst), skip_symbolic_shape=True)
        return dst
    except Exception as exc:
        notes.append(f"quant_pre_process skipped: {type(exc).__name__}: {exc}")
        return src


def _opset_for_qdq(model: bytes, per_channel: bool, notes: list[str]) -> tuple[bytes, bool]:
    """Per-channel QDQ needs DequantizeLinear's ``axis`` (opset 13+). Older graphs
    (the PP-OCR detector is opset 11) are converted first; if that fails, fall back
    to per-tensor scales rather than emit a model onnxruntime refuses."""
    import onnx
    from onnx import version_converter

    proto = onnx.load_model_from_string(model)
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 13)
    if opset >= 13:
        return model, per_channel
    try:
        converted = version_converter.convert_version(proto, 13)
        notes.append(f"converted opset {opset} -> 13 for per-channel QDQ")
        return converted.SerializeToString(), per_channel
    except Exception as exc:
        notes.append(f"opset {opset} kept ({type(exc).__name__}); per-tensor scales")
        return model, False


def quantize_static_qdq(
    model: bytes,
    samples: list[np.ndarray],
    *,
    per_channel: bool = True,
    source_sha256: str | None = None,
) -> QuantizedModel:
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    if not samples:
        raise ConfigError("static quantization needs at least one calibration sample")
    notes: list[str] = []
    logging.getLogger("root").setLevel(logging.ERROR)
    model, per_channel = _opset_for_qdq(model, per_channel, notes)
    with tempfile.TemporaryDirectory(prefix="ec-quant-") as d:
        src = Path(d) / "fp32.onnx"
        src.write_bytes(model)
        pre = _pre_process(src, Path(d) / "pre.onnx", notes)
        name = ort.InferenceSession(model, providers=["CPUExecutionProvider"]).get_inputs()[0].name
        out = Path(d) / "int8.onnx"
        try:
            quantize_static(
                str(pre),
                str(out),
                _Reader(name, samples),
                quant_format=QuantFormat.QDQ,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                per_channel=per_channel,
                calibrate_method=CalibrationMethod.MinMax,
            )
        except Exception as exc:
            raise ModelError(f"static quantization failed: {type(exc).__name__}: {exc}") from exc
        data = out.read_bytes()
    info = {
        "mode": "static-qdq",
        "activation_type": "uint8",
        "weight_type": "int8",
        "per_channel": per_channel,
        "calibration_samples": len(samples),
        "calibration_method": "minmax",
    }
    if source_sha256:
        info["source_sha256"] = source_sha256
    return QuantizedModel("static-qdq", data, {**info, "notes": notes})


def quantize_dynamic_int8(model: bytes, source_sha256: str | None = None) -> QuantizedModel:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="ec-quant-") as d:
        src, out = Path(d) / "fp32.onnx", Path(d) / "int8.onnx"
        src.write_bytes(model)
        # Pre-processing folds Constant weights into initializers, which dynamic
        # quantization needs (the PP-OCR detector keeps some conv weights as nodes).
        pre = _pre_process(src, Path(d) / "pre.onnx", notes)
        try:
            quantize_dynamic(str(pre), str(out), weight_type=QuantType.QInt8)
        except Exception as exc:
            raise ModelError(f"dynamic quantization failed: {type(exc).__name__}: {exc}") from exc
        data = out.read_bytes()
    _check_loads(data, "dynamic")
    info: dict[str, Any] = {"mode": "dynamic", "weight_type": "int8"}
    if source_sha256:
        info["source_sha256"] = source_sha256
    return QuantizedModel("dynamic", data, {**info, "notes": notes})


def _check_loads(data: bytes, what: str) -> None:
    # Never hand on a quantized model onnxruntime itself refuses.
    try:
        ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    except Exception as exc:
        line = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{what} quantization made a model onnxruntime refuses: {line}") from exc


def manifest_quantization(q: QuantizedModel) -> dict[str, Any]:
    """The part of ``q.info`` that goes into the signed manifest."""
    return {k: v for k, v in q.info.items() if k != "notes"}


# -- comparison ------------------------------------------------------------------


@dataclass
class VariantReport:
    name: str
    size_bytes: int
    p50_ms: float
    p99_ms: float
    max_abs_diff: float | None = None
    top1_agreement: float | None = None
    box_iou: float | None = None
    decision_agreement: float | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: (round(v, 5) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


@dataclass
class QuantReport:
    model: str
    head: str
    eval_samples: int
    variants: list[VariantReport]
    recommendation: str

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "head": self.head,
            "eval_samples": self.eval_samples,
            "variants": [v.to_json() for v in self.variants],
            "recommendation": self.recommendation,
        }

    def table(self) -> str:
        rows = [("variant", "size KB", "p50 ms", "p99 ms", "agreement", "max |diff|")]
        for v in self.variants:
            if v.error:
                rows.append((v.name, f"{v.size_bytes / 1024:.1f}", "-", "-", v.error, "-"))
                continue
            rows.append(
                (
                    v.name,
                    f"{v.size_bytes / 1024:.1f}",
                    f"{v.p50_ms:.3f}",
                    f"{v.p99_ms:.3f}",
                    _agreement_text(v),
                    "-" if v.max_abs_diff is None else f"{v.max_abs_diff:.4g}",
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
        return "\n".join([*lines, f"recommendation: {self.recommendation}"])


def _agreement_text(v: VariantReport) -> str:
    if v.top1_agreement is not None:
        return f"top-1 {100 * v.top1_agreement:.1f}%"
    if v.box_iou is not None:
        return f"IoU {v.box_iou:.3f}"
    if v.decision_agreement is not None:
        return f"decision {100 * v.decision_agreement:.1f}%"
    return "reference"


def _box_iou(a: np.ndarray, b: np.ndarray) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def _detect_iou(ref: np.ndarray, got: np.ndarray, threshold: float) -> float:
    """Mean over reference boxes of the best IoU with a same-class box (1.0 if both
    sides are empty): a missed box scores 0, an extra box lowers nothing but is
    caught by the reverse pass."""

    def boxes(x: np.ndarray) -> np.ndarray:
        x = x.reshape(-1, x.shape[-1])
        return x[x[:, 4] >= threshold] if x.shape[-1] >= 6 else x[:0]

    r, g = boxes(ref), boxes(got)
    if len(r) == 0 and len(g) == 0:
        return 1.0

    def one_way(p: np.ndarray, q: np.ndarray) -> list[float]:
        return [max((_box_iou(a, b) for b in q if int(b[5]) == int(a[5])), default=0.0) for a in p]

    scores = one_way(r, g) + one_way(g, r)
    return float(np.mean(scores))


def _mask_iou(ref: np.ndarray, got: np.ndarray, threshold: float) -> float:
    a, b = ref > threshold, got > threshold
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def _output_index(spec: ModelSpec, session: ort.InferenceSession) -> int:
    wanted = spec.head.params.get("output")
    names = [o.name for o in session.get_outputs()]
    return names.index(wanted) if wanted in names else 0


def compare_variants(
    fp32: bytes,
    variants: dict[str, bytes | str],
    spec: ModelSpec,
    eval_inputs: list[np.ndarray],
    *,
    runs: int = 200,
    threads: int | None = None,
) -> QuantReport:
    """FP32 and each INT8 variant side by side, measured in this one run."""
    models: dict[str, bytes | str] = {"fp32": fp32, **variants}
    sessions: dict[str, ort.InferenceSession] = {}
    reports: dict[str, VariantReport] = {}
    for name, data in models.items():
        if isinstance(data, str):  # the variant could not be made: say why, in the table
            reports[name] = VariantReport(name, 0, float("nan"), float("nan"), error=data)
            continue
        try:
            t0 = time.perf_counter()
            sessions[name] = make_ort_session(data, threads=threads, name=name)
            load_ms = (time.perf_counter() - t0) * 1e3
        except ModelError as exc:
            reports[name] = VariantReport(
                name, len(data), float("nan"), float("nan"), error=f"does not load: {exc.what}"
            )
            continue
        feed_name = sessions[name].get_inputs()[0].name
        r = bench_session(
            sessions[name],
            {feed_name: eval_inputs[0]},
            model=name,
            runs=runs,
            warmup=10,
            threads=threads,
            load_ms=load_ms,
        )
        reports[name] = VariantReport(name, len(data), r.p50_ms, r.p99_ms)
    ref_sess = sessions["fp32"]
    idx = _output_index(spec, ref_sess)
    in_name = ref_sess.get_inputs()[0].name
    refs = [ref_sess.run(None, {in_name: x}) for x in eval_inputs]
    head = spec.head
    thr = float(head.params.get("threshold", 0.5 if head.type != "text-detect" else 0.3))
    for name, sess in sessions.items():
        if name == "fp32":
            continue
        outs = [sess.run(None, {in_name: x}) for x in eval_inputs]
        rep = reports[name]
        rep.max_abs_diff = float(
            max(
                np.max(np.abs(np.asarray(o[k], np.float64) - np.asarray(r[k], np.float64)))
                for o, r in zip(outs, refs, strict=True)
                for k in range(len(r))
            )
        )
        pairs = [(np.asarray(r[idx]), np.asarray(o[idx])) for r, o in zip(refs, outs, strict=True)]
        if head.type == "classify":
            rep.top1_agreement = float(
                np.mean([np.array_equal(a.argmax(-1), b.argmax(-1)) for a, b in pairs])
            )
        elif head.type == "detect":
            rep.box_iou = float(np.mean([_detect_iou(a, b, thr) for a, b in pairs]))
        elif head.type == "text-detect":
            rep.box_iou = float(np.mean([_mask_iou(a, b, thr) for a, b in pairs]))
        else:
            rep.decision_agreement = float(
                np.mean([np.array_equal(a > thr, b > thr) for a, b in pairs])
            )
    ordered = [reports[n] for n in models]
    return QuantReport(
        spec.name, head.type, len(eval_inputs), ordered, recommend(ordered[0], ordered[1:])
    )


def _accurate(v: VariantReport) -> bool:
    if v.top1_agreement is not None:
        return v.top1_agreement >= 0.99
    if v.box_iou is not None:
        return v.box_iou >= 0.9
    if v.decision_agreement is not None:
        return v.decision_agreement >= 0.99
    return False


def recommend(fp32: VariantReport, variants: list[VariantReport]) -> str:
    """A recommendation that follows the numbers, never the expectation."""
    usable = [v for v in variants if v.error is None]
    if not usable:
        return "keep FP32: no INT8 variant could be measured"
    good = [v for v in usable if _accurate(v)]
    if not good:
        worst = ", ".join(f"{v.name} {_agreement_text(v)}" for v in usable)
        return f"keep FP32: INT8 changes the outputs too much ({worst})"
    best = min(good, key=lambda v: v.p50_ms)
    speedup = fp32.p50_ms / best.p50_ms if best.p50_ms > 0 else 0.0
    size = f"{best.size_bytes / 1024:.0f} KB vs {fp32.size_bytes / 1024:.0f} KB"
    if speedup >= 1.1:
        return (
            f"use INT8 ({best.name}): p50 {best.p50_ms:.3f} ms vs {fp32.p50_ms:.3f} ms "
            f"({speedup:.2f}x faster), {_agreement_text(best)}, {size}"
        )
    if speedup < 0.95:
        return (
            f"keep FP32: INT8 is slower here (best {best.name} p50 {best.p50_ms:.3f} ms vs "
            f"{fp32.p50_ms:.3f} ms); INT8 only buys size ({size})"
        )
    return (
        f"keep FP32 unless size matters: INT8 is not faster here ({best.name} p50 "
        f"{best.p50_ms:.3f} vs {fp32.p50_ms:.3f} ms), {size}"
    )
