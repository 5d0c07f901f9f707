"""Rebuild the vibration anomaly sample model, deterministically.

Data: ``edgeconsole.sim.vibration`` (synthetic 3-axis accelerometer of a rotating
machine, 200 Hz). Model: per-axis magnitude spectra of a 64-sample window
(Hann window, mean removed, bins 1..32), standardised, scored by the squared
reconstruction error of a PCA fitted on normal windows only. The whole chain is
linear algebra, so it is exported with ``onnx.helper`` as one graph::

    window [N, 192] (64 readings x, y, z interleaved, in g)
      -> Reshape [N, 64, 3] -> Transpose [N, 3, 64]
      -> MatMul (mean-removal * Hann * cos) , MatMul (... * sin)  -> re, im [N, 3, 32]
      -> Sqrt(re^2 + im^2 + eps) -> Reshape [N, 96] -> (x - mu) * 1/sigma  -> z
      -> z - (z P) P^T (two Gemm) -> square -> ReduceMean -> score [N, 1]

The threshold is the largest score on normal validation windows (machines not
seen in training) times a margin. The build reports the false-alarm rate on
held-out normal windows and the detection rate per fault mode and severity,
all measured through onnxruntime, and writes::

    model.onnx  model.json  golden_input.npy  golden_output.npy  build_report.json

Run: ``.venv/bin/python sample_models/vibration/build.py [--out DIR]``
(needs the ``models`` extra: scikit-learn and onnx). Two builds on one machine
are byte-identical (fixed seeds, BLAS held to one thread, no timestamps).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from sklearn.decomposition import PCA
from threadpoolctl import threadpool_limits

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
if str(REPO) not in sys.path:  # a plain script run from anywhere still finds the package
    sys.path.insert(0, str(REPO))

from edgeconsole.sim.vibration import (  # noqa: E402
    ACCEL_AXES,
    DEFAULT_SAMPLE_RATE_HZ,
    FAULT_MODES,
    make_windows,
)

WINDOW = 64
BINS = WINDOW // 2  # bins 1..32; DC is removed (gravity, sensor offset)
FEATURES = ACCEL_AXES * BINS
COMPONENTS = 8
EPS = 1e-12  # keeps Sqrt differentiable-safe and finite at exactly zero energy
THRESHOLD_MARGIN = 1.2
OPSET = 17

# Each seed is one machine unit (its healthy signature varies by ±15 % per component).
TRAIN_UNITS = (100, 101, 102, 103)
VALIDATION_UNITS = (200, 201)
TEST_UNITS = (0, 300, 301, 302)  # seed 0 is the virtual device's default machine
FAULT_UNITS = (400, 401, 402)
CURVE_UNIT = 500
CURVE_SEVERITIES = (0.1, 0.2, 0.3, 0.5)
TRAIN_WINDOWS, VALIDATION_WINDOWS, TEST_WINDOWS, FAULT_WINDOWS = 1500, 1000, 1000, 500
GOLDEN_FAULT = "bearing"
GOLDEN_SEED = 600
GOLDEN_RTOL = 1e-3  # tolerance = GOLDEN_RTOL * max(1, |golden score|)


def spectral_matrices() -> tuple[np.ndarray, np.ndarray]:
    """(W, BINS) matrices taking a window to the real/imag DFT of its Hann-windowed,
    mean-removed samples: all three linear steps folded into one product."""
    n = np.arange(WINDOW)
    k = np.arange(1, BINS + 1)
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * n / WINDOW)
    centre = np.eye(WINDOW) - 1.0 / WINDOW
    angle = 2 * np.pi * np.outer(n, k) / WINDOW
    return centre @ (hann[:, None] * np.cos(angle)), centre @ (hann[:, None] * np.sin(angle))


def features(windows: np.ndarray) -> np.ndarray:
    """float64 reference of the graph's front end: (N, W, 3) -> (N, 96)."""
    cos_m, sin_m = spectral_matrices()
    x = np.transpose(windows, (0, 2, 1))
    mag = np.sqrt((x @ cos_m) ** 2 + (x @ sin_m) ** 2 + EPS)
    return mag.reshape(len(windows), FEATURES)


class SpectralPCA:
    """Standardised spectra, PCA on normal data, score = mean squared residual."""

    def __init__(self, train_windows: np.ndarray) -> None:
        f = features(train_windows)
        self.mean = f.mean(axis=0)
        self.inv_std = 1.0 / (f.std(axis=0) + 1e-6)
        with threadpool_limits(limits=1):
            pca = PCA(n_components=COMPONENTS, svd_solver="full", random_state=0)
            pca.fit((f - self.mean) * self.inv_std)
        self.components = pca.components_.T  # (FEATURES, COMPONENTS)
        self.explained = float(pca.explained_variance_ratio_.sum())

    def score(self, windows: np.ndarray) -> np.ndarray:
        z = (features(windows) - self.mean) * self.inv_std
        r = z - (z @ self.components) @ self.components.T
        return np.mean(r * r, axis=1)


def to_onnx(model: SpectralPCA) -> onnx.ModelProto:
    cos_m, sin_m = spectral_matrices()

    def const(name: str, value: np.ndarray, dtype: type = np.float32) -> onnx.TensorProto:
        return numpy_helper.from_array(np.asarray(value, dtype=dtype), name)

    inits = [
        const("window_shape", np.array([-1, WINDOW, ACCEL_AXES]), np.int64),
        const("feature_shape", np.array([-1, FEATURES]), np.int64),
        const("dft_re", cos_m),
        const("dft_im", sin_m),
        const("eps", np.array(EPS)),
        const("feature_mean", model.mean),
        const("feature_inv_std", model.inv_std),
        const("pca", model.components),
    ]
    node = helper.make_node
    nodes = [
        node("Reshape", ["window", "window_shape"], ["samples"], name="readings"),
        node("Transpose", ["samples"], ["axes_time"], perm=[0, 2, 1], name="per_axis"),
        node("MatMul", ["axes_time", "dft_re"], ["re"], name="dft_real"),
        node("MatMul", ["axes_time", "dft_im"], ["im"], name="dft_imag"),
        node("Mul", ["re", "re"], ["re2"]),
        node("Mul", ["im", "im"], ["im2"]),
        node("Add", ["re2", "im2"], ["power"]),
        node("Add", ["power", "eps"], ["power_eps"]),
        node("Sqrt", ["power_eps"], ["magnitude"], name="magnitude"),
        node("Reshape", ["magnitude", "feature_shape"], ["spectrum"], name="flatten"),
        node("Sub", ["spectrum", "feature_mean"], ["centred"]),
        node("Mul", ["centred", "feature_inv_std"], ["z"], name="standardise"),
        node("Gemm", ["z", "pca"], ["code"], name="encode"),
        # transB reuses the basis for the way back instead of storing its transpose.
        node("Gemm", ["code", "pca"], ["recon"], transB=1, name="decode"),
        node("Sub", ["z", "recon"], ["residual"]),
        node("Mul", ["residual", "residual"], ["residual2"]),
        node("ReduceMean", ["residual2"], ["score"], axes=[1], keepdims=1, name="score"),
    ]
    graph = helper.make_graph(
        nodes,
        "vibration_anomaly",
        [helper.make_tensor_value_info("window", TensorProto.FLOAT, ["N", WINDOW * ACCEL_AXES])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N", 1])],
        initializer=inits,
    )
    onnx_model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="edgeconsole-sample-models",
        producer_version="1",
    )
    onnx_model.ir_version = 8
    onnx_model.doc_string = (
        "Vibration anomaly score: PCA reconstruction error of per-axis "
        "magnitude spectra of 64 readings at 200 Hz"
    )
    onnx.checker.check_model(onnx_model, full_check=True)
    return onnx_model


def flat(windows: np.ndarray) -> np.ndarray:
    """(N, W, 3) -> the model input (N, 3W) float32, readings one after another."""
    return np.ascontiguousarray(windows.reshape(len(windows), -1), dtype=np.float32)


class OnnxScorer:
    def __init__(self, model_bytes: bytes) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        self._sess = ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])

    def __call__(self, windows: np.ndarray) -> np.ndarray:
        out = self._sess.run(["score"], {"window": flat(windows)})[0]
        return np.asarray(out)[:, 0]


def units(
    seeds: tuple[int, ...], fault: str, count: int, hop: int | None = None, severity: float = 1.0
) -> np.ndarray:
    return np.concatenate(
        [make_windows(s, fault, count, WINDOW, hop=hop, severity=severity) for s in seeds]
    )


def description(threshold: float, golden_tol: float) -> dict[str, Any]:
    return {
        "spec": "edgeconsole.model/1",
        "name": "vibration-anomaly",
        "version": 1,
        "model": "model.onnx",
        "description": (
            f"Anomaly score of a rotating machine from {WINDOW} accelerometer readings "
            f"(x, y, z in g, interleaved as telemetry lines arrive) at "
            f"{DEFAULT_SAMPLE_RATE_HZ:g} Hz: PCA reconstruction error of per-axis magnitude "
            "spectra, trained on normal operation of edgeconsole.sim.vibration only. "
            "Score above threshold = anomaly."
        ),
        "inputs": [
            {
                "name": "window",
                "dtype": "float32",
                "shape": [-1, WINDOW * ACCEL_AXES],
                "layout": "NC",
            }
        ],
        "outputs": [{"name": "score", "dtype": "float32", "shape": [-1, 1]}],
        "preprocess": {
            "resize": "none",
            "layout": "NC",
            "scale": 1.0,
            "mean": [0.0, 0.0, 0.0],
            "std": [1.0, 1.0, 1.0],
            "flatten": True,
            "dtype": "float32",
        },
        "head": {
            "type": "anomaly",
            "threshold": threshold,
            "output": "score",
            "score": "value",
            "labels": ["normal", "anomaly"],
        },
        "latency_budget_ms": 2,
        "golden": {
            "input": "golden_input.npy",
            "output": "golden_output.npy",
            "tolerance": golden_tol,
        },
    }


def build(out_dir: Path) -> dict[str, Any]:
    out_dir.mkdir(parents=True, exist_ok=True)
    # Overlapping training windows (hop W/2) see each part of the speed drift twice.
    model = SpectralPCA(units(TRAIN_UNITS, "normal", TRAIN_WINDOWS, hop=WINDOW // 2))
    model_bytes = to_onnx(model).SerializeToString()
    score = OnnxScorer(model_bytes)

    validation = units(VALIDATION_UNITS, "normal", VALIDATION_WINDOWS)
    val_scores = score(validation).astype(np.float64)
    parity = float(
        np.max(np.abs(val_scores - model.score(validation)) / np.maximum(1.0, np.abs(val_scores)))
    )
    if parity > 1e-4:
        raise RuntimeError(f"ONNX score differs from the float64 reference by {parity:.3g}")
    # Rounded so model.json stays readable; rounding up keeps it above every validation score.
    threshold = float(np.ceil(val_scores.max() * THRESHOLD_MARGIN * 1e4) / 1e4)

    test_scores = score(units(TEST_UNITS, "normal", TEST_WINDOWS))
    detection: dict[str, float] = {}
    fault_medians: dict[str, float] = {}
    for fault in FAULT_MODES[1:]:
        s = score(units(FAULT_UNITS, fault, FAULT_WINDOWS))
        detection[fault] = float(np.mean(s > threshold))
        fault_medians[fault] = float(np.median(s))
    curve = {
        fault: {
            f"{sev:g}": float(
                np.mean(
                    score(make_windows(CURVE_UNIT, fault, FAULT_WINDOWS, WINDOW, severity=sev))
                    > threshold
                )
            )
            for sev in CURVE_SEVERITIES
        }
        for fault in FAULT_MODES[1:]
    }

    golden_in = flat(make_windows(GOLDEN_SEED, GOLDEN_FAULT, 1, WINDOW))
    golden_out = score(golden_in.reshape(1, WINDOW, ACCEL_AXES)).astype(np.float32)[:, None]
    golden_tol = float(GOLDEN_RTOL * max(1.0, abs(float(golden_out[0, 0]))))

    (out_dir / "model.onnx").write_bytes(model_bytes)
    np.save(out_dir / "golden_input.npy", golden_in)
    np.save(out_dir / "golden_output.npy", golden_out)
    (out_dir / "model.json").write_text(
        json.dumps(description(threshold, round(golden_tol, 6)), indent=2) + "\n"
    )

    n_params = int(
        sum(
            np.asarray(a).size
            for a in (*spectral_matrices(), model.mean, model.inv_std, model.components)
        )
    )
    report = {
        "model": "vibration-anomaly",
        "sample_rate_hz": DEFAULT_SAMPLE_RATE_HZ,
        "window_samples": WINDOW,
        "pca_components": COMPONENTS,
        "pca_explained_variance": model.explained,
        "train_windows": len(TRAIN_UNITS) * TRAIN_WINDOWS,
        "validation_windows": len(validation),
        "threshold": threshold,
        "threshold_rule": f"max(normal validation score) x {THRESHOLD_MARGIN}",
        "validation_score_max": float(val_scores.max()),
        "validation_score_p999": float(np.percentile(val_scores, 99.9)),
        "onnx_vs_float64_max_rel_diff": parity,
        "test_normal_windows": len(test_scores),
        "false_alarm_rate": float(np.mean(test_scores > threshold)),
        "test_normal_score_max": float(test_scores.max()),
        "fault_windows_per_mode": len(FAULT_UNITS) * FAULT_WINDOWS,
        "detection_rate": detection,
        "fault_score_median": fault_medians,
        "detection_rate_by_severity": curve,
        "parameters": n_params,
        "onnx_bytes": len(model_bytes),
        "onnx_sha256": hashlib.sha256(model_bytes).hexdigest(),
        "golden": {"fault": GOLDEN_FAULT, "seed": GOLDEN_SEED, "score": float(golden_out[0, 0])},
    }
    (out_dir / "build_report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=HERE, help="output folder (default: here)")
    args = parser.parse_args(argv)
    report = build(args.out)
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
