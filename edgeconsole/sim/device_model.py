"""What the virtual device does with the bundle in its running slot.

A slot holds bytes. If they are a tar (a bundle ``.ecb`` or the factory image)
with an ONNX model, the device loads it with onnxruntime, feeds it windows of
its own accelerometer readings, and can run the golden self-test that the
description (``manifest.json`` or ``model.json``) names: golden input through
the model, output within tolerance, p95 latency within the budget. Bytes
without a model are opaque firmware: the self-test is the hash check alone.

The device is firmware, not the console: it reads the description with plain
json/tarfile (it does not import edgeconsole.bundles; the console verified the
signature before uploading).
"""

from __future__ import annotations

import io
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeconsole.core.jsonsafe import JSONRefused, loads_bounded

MAX_MEMBER = 32 * 1024 * 1024
SAMPLE_MODELS = Path(__file__).resolve().parents[2] / "sample_models"

#: onnxruntime's tensor types the device accepts for console-sent samples (numpy names).
ORT_DTYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(int16)": "int16",
    "tensor(int32)": "int32",
    "tensor(int64)": "int64",
}


class InferError(Exception):
    """Why a console-sent sample did not run: ``kind`` is ``no_model`` (nothing
    runnable in the active slot), ``invalid`` (the tensor does not fit the model's
    input) or ``failed`` (the model raised, or gave something that is not a tensor)."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


@dataclass
class SelfTestResult:
    passed: bool
    detail: str
    max_error: float | None = None
    p95_ms: float | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"passed": self.passed, "detail": self.detail}
        if self.max_error is not None:
            out["max_error"] = round(self.max_error, 6)
        if self.p95_ms is not None:
            out["p95_ms"] = round(self.p95_ms, 4)
        return out


def _members(payload: bytes) -> dict[str, bytes] | None:
    try:
        with tarfile.open(fileobj=io.BytesIO(payload), mode="r:") as tar:
            out: dict[str, bytes] = {}
            for m in tar.getmembers():
                if not m.isreg() or m.size > MAX_MEMBER or "/" in m.name or m.name in out:
                    continue
                fh = tar.extractfile(m)
                if fh is not None:
                    out[m.name] = fh.read()
            return out
    except (tarfile.TarError, OSError, EOFError):
        return None


class DeviceModel:
    """The model of one slot, loaded (or not: ``session`` None = opaque payload)."""

    def __init__(self, payload: bytes) -> None:
        self.session: Any = None
        self.description: dict[str, Any] = {}
        self.files: dict[str, bytes] = {}
        self.error = ""
        self.window = 0
        members = _members(payload) if payload[257:262] == b"ustar" else None
        if members is None:
            self.error = "no model in payload"
            return
        self.files = members
        for name in ("manifest.json", "model.json"):
            if name in members:
                try:
                    desc = loads_bounded(members[name], max_bytes=1 << 20, what=name)
                    self.description = desc if isinstance(desc, dict) else {}
                except JSONRefused as exc:
                    self.error = exc.what
                    return
                break
        model_name = self.description.get("model")
        if not isinstance(model_name, str) or model_name not in members:
            model_name = next((n for n in members if n.endswith(".onnx")), None)
        if model_name is None:
            self.error = "no .onnx in bundle"
            return
        try:
            import onnxruntime as ort

            opts = ort.SessionOptions()
            opts.intra_op_num_threads = 1  # an MCU-class device has one core
            self.session = ort.InferenceSession(
                members[model_name], opts, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own zoo of types
            self.error = f"model does not load: {str(exc).splitlines()[0][:120]}"
            self.session = None
            return
        inp = self.session.get_inputs()[0]
        size = inp.shape[-1] if isinstance(inp.shape[-1], int) else 0
        self.window = size // 3 if size % 3 == 0 else 0
        self.input_name = inp.name

    @property
    def threshold(self) -> float | None:
        head = self.description.get("head")
        value = head.get("threshold") if isinstance(head, dict) else None
        return float(value) if isinstance(value, int | float) else None

    def score(self, accel: np.ndarray) -> tuple[float, float] | None:
        """Model output on the last ``window`` readings (n, 3) and the time it took (ms)."""
        if self.session is None or not self.window or len(accel) < self.window:
            return None
        x = accel[-self.window :, :3].astype(np.float32).reshape(1, -1)
        t0 = time.perf_counter()
        out = self.session.run(None, {self.input_name: x})[0]
        ms = (time.perf_counter() - t0) * 1e3
        return float(np.asarray(out).reshape(-1)[0]), ms

    def check_input(self, name: str | None, dtype: str, shape: tuple[int, ...]) -> str:
        """The model's input name if a tensor of ``dtype``/``shape`` fits it, else InferError.

        Checked before the first byte is stored, so a sample that can never run
        is refused at its first chunk instead of after the whole upload."""
        if self.session is None:
            raise InferError("no_model", f"active slot has no runnable model ({self.error})")
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise InferError("invalid", f"model takes {len(inputs)} inputs; infer sends one")
        inp = inputs[0]
        if name is not None and name != inp.name:
            raise InferError("invalid", f"model input is '{inp.name}', not '{name}'")
        want = ORT_DTYPES.get(inp.type, inp.type)
        if want != dtype:
            raise InferError("invalid", f"input '{inp.name}' is {want}, got {dtype}")
        dims = list(inp.shape)
        if len(dims) != len(shape) or any(
            isinstance(d, int) and d != g for d, g in zip(dims, shape, strict=True)
        ):
            shown = [d if isinstance(d, int) else -1 for d in dims]
            raise InferError("invalid", f"input '{inp.name}' has shape {shown}, got {list(shape)}")
        return str(inp.name)

    def infer(self, name: str | None, x: np.ndarray) -> tuple[list[tuple[str, np.ndarray]], int]:
        """All outputs (name, array) of one run on ``x`` and the run's own time in µs."""
        input_name = self.check_input(name, x.dtype.name, tuple(x.shape))
        try:
            t0 = time.perf_counter_ns()
            outs = self.session.run(None, {input_name: x})
            us = (time.perf_counter_ns() - t0) // 1000
        except Exception as exc:  # onnxruntime raises its own zoo of types
            raise InferError("failed", f"model failed: {str(exc).splitlines()[0][:100]}") from None
        named = []
        for meta, out in zip(self.session.get_outputs(), outs, strict=True):
            if not isinstance(out, np.ndarray) or out.dtype.name not in ORT_DTYPES.values():
                raise InferError("failed", f"output '{meta.name}' is not a numeric tensor")
            named.append((str(meta.name), np.ascontiguousarray(out)))
        return named, int(us)

    def self_test(self) -> SelfTestResult:
        if self.session is None:
            if self.error == "no model in payload":
                return SelfTestResult(True, "opaque payload: hash verified, nothing to run")
            return SelfTestResult(False, self.error)
        golden = self.description.get("golden")
        if not isinstance(golden, dict):
            return SelfTestResult(False, "bundle has no golden input/output")
        try:
            gin = np.load(io.BytesIO(self.files[str(golden["input"])]), allow_pickle=False)
            gout = np.load(io.BytesIO(self.files[str(golden["output"])]), allow_pickle=False)
            tol = float(golden["tolerance"])
        except (KeyError, ValueError, TypeError, OSError) as exc:
            return SelfTestResult(False, f"golden files unreadable ({type(exc).__name__})")
        times = []
        got = None
        try:
            for _ in range(23):
                t0 = time.perf_counter()
                got = self.session.run(None, {self.input_name: gin.astype(np.float32)})[0]
                times.append((time.perf_counter() - t0) * 1e3)
        except Exception as exc:
            return SelfTestResult(False, f"golden run failed: {str(exc).splitlines()[0][:120]}")
        p95 = float(np.percentile(times[3:], 95))
        got_shape = np.asarray(got).shape if got is not None else None
        if got_shape != gout.shape:
            return SelfTestResult(False, f"golden output shape {got_shape} != {gout.shape}")
        err = float(np.max(np.abs(np.asarray(got, np.float64) - gout)))
        if not err <= tol:
            return SelfTestResult(False, f"golden output off by {err:.4g} > {tol:.4g}", err, p95)
        budget = self.description.get("latency_budget_ms")
        if isinstance(budget, int | float) and p95 > budget:
            return SelfTestResult(False, f"p95 {p95:.3f} ms over budget {budget} ms", err, p95)
        return SelfTestResult(True, "golden output within tolerance", err, p95)


def factory_image() -> tuple[bytes, str]:
    """The bundle a new device ships with: the signed vibration anomaly sample bundle,
    else the vibration (or digits) sample model packed as the device would hold it."""
    signed = SAMPLE_MODELS / "bundles" / "vibration-anomaly-1.ecb"
    if signed.is_file():
        return signed.read_bytes(), "vibration-anomaly"
    for name in ("vibration", "digits"):
        d = SAMPLE_MODELS / name
        if (d / "model.json").is_file() and (d / "model.onnx").is_file():
            return pack_dir(
                d, ("model.json", "model.onnx", "golden_input.npy", "golden_output.npy")
            ), f"factory-{name}"
    # A checkout without sample models still boots: an opaque factory image.
    return b"edgeconsole virtual device factory image\n", "factory-opaque"


def pack_dir(directory: Path, names: tuple[str, ...]) -> bytes:
    """A deterministic uncompressed tar of ``names`` from ``directory`` (the ones present)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name in names:
            path = directory / name
            if not path.is_file():
                continue
            data = path.read_bytes()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()
