"""The vibration anomaly sample model: description, golden pair, detection on fresh machines,
the virtual-device usage (streaming windows) and a reproducible build."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from edgeconsole.inference.preprocess import preprocess_array
from edgeconsole.inference.spec import load_model_spec
from edgeconsole.sim.vibration import FAULT_MODES, VibrationSource, make_windows

from ._helpers import SAMPLE_MODELS, golden_arrays, load_build_script, run_model

VIBRATION = SAMPLE_MODELS / "vibration"
WINDOW = 64
# Machines (seeds) that the build used for neither training, validation nor its own test.
FRESH_NORMAL = (901, 902)
FRESH_FAULT = 903


@pytest.fixture(scope="module")
def session() -> ort.InferenceSession:
    return ort.InferenceSession(str(VIBRATION / "model.onnx"), providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def threshold() -> float:
    return float(load_model_spec(VIBRATION).head.params["threshold"])


def scores(session: ort.InferenceSession, windows: np.ndarray) -> np.ndarray:
    x = windows.reshape(len(windows), -1).astype(np.float32)
    return np.asarray(session.run(["score"], {"window": x})[0])[:, 0]


def test_description_parses_and_matches_the_onnx_graph() -> None:
    spec = load_model_spec(VIBRATION)
    assert spec.name == "vibration-anomaly"
    assert spec.head.type == "anomaly"
    assert spec.head.params["output"] == "score" and spec.head.params["score"] == "value"
    assert spec.head.params["threshold"] > 0
    assert spec.preprocess.resize == "none" and spec.preprocess.flatten
    assert spec.inputs[0].shape == (-1, WINDOW * 3)
    model = onnx.load(str(spec.model_path))
    onnx.checker.check_model(model)
    graph_inputs = {i.name for i in model.graph.input} - {i.name for i in model.graph.initializer}
    assert graph_inputs == {"window"}
    assert [o.name for o in model.graph.output] == ["score"]


def test_onnxruntime_reproduces_the_golden_output(threshold: float) -> None:
    spec = load_model_spec(VIBRATION)
    x, expected, tol = golden_arrays(spec)
    assert x.shape == (1, WINDOW * 3) and x.dtype == np.float32
    (got,) = run_model(spec.model_path, {"window": x})
    assert got.shape == expected.shape == (1, 1)
    assert abs(float(got[0, 0]) - float(expected[0, 0])) <= tol
    # The golden window is a bearing fault: clearly an anomaly.
    assert float(got[0, 0]) > 5 * threshold


def test_description_preprocess_turns_telemetry_rows_into_the_model_input() -> None:
    """64 telemetry readings (rows x, y, z) through the description's own preprocess."""
    spec = load_model_spec(VIBRATION)
    rows = VibrationSource(seed=FRESH_FAULT).read(WINDOW)[:, :3]
    tensor = preprocess_array(rows, spec.preprocess)
    assert tensor.shape == (1, WINDOW * 3) and tensor.dtype == np.float32
    np.testing.assert_array_equal(tensor, rows.reshape(1, -1).astype(np.float32))


def test_normal_operation_of_fresh_machines_is_not_flagged(
    session: ort.InferenceSession, threshold: float
) -> None:
    normal = np.concatenate([make_windows(s, "normal", 500, WINDOW) for s in FRESH_NORMAL])
    false_alarm = float(np.mean(scores(session, normal) > threshold))
    assert false_alarm <= 0.005


@pytest.mark.parametrize("fault", FAULT_MODES[1:])
def test_each_fault_mode_is_detected(
    fault: str, session: ort.InferenceSession, threshold: float
) -> None:
    detected = float(
        np.mean(scores(session, make_windows(FRESH_FAULT, fault, 300, WINDOW)) > threshold)
    )
    assert detected >= 0.98
    # A mild fault (severity 0.5) is still caught most of the time.
    mild = make_windows(FRESH_FAULT, fault, 300, WINDOW, severity=0.5)
    assert float(np.mean(scores(session, mild) > threshold)) >= 0.9


def test_streaming_windows_flag_an_injected_fault(
    session: ort.InferenceSession, threshold: float
) -> None:
    """What the virtual device does: a sliding window over its own stream, then a fault."""
    src = VibrationSource(seed=0)
    healthy = src.read(40 * WINDOW)[:, :3]
    src.set_fault("bearing", 1.0)
    src.read(2 * WINDOW)  # let the fault reach the buffer (it applies per generated block)
    faulty = src.read(20 * WINDOW)[:, :3]
    hop = WINDOW // 4

    def slide(x: np.ndarray) -> np.ndarray:
        return np.stack([x[i : i + WINDOW] for i in range(0, len(x) - WINDOW + 1, hop)])

    assert np.all(scores(session, slide(healthy)) <= threshold)
    assert np.all(scores(session, slide(faulty)) > threshold)


def test_build_report_figures() -> None:
    report = json.loads((VIBRATION / "build_report.json").read_text())
    assert report["false_alarm_rate"] <= 0.005
    assert all(report["detection_rate"][f] >= 0.98 for f in FAULT_MODES[1:])
    assert (VIBRATION / "model.onnx").stat().st_size == report["onnx_bytes"] <= 64 * 1024
    assert report["threshold"] == load_model_spec(VIBRATION).head.params["threshold"]


def test_rebuild_is_deterministic(tmp_path: Path) -> None:
    build = load_build_script("vibration")
    report = build.build(tmp_path)
    shipped = json.loads((VIBRATION / "build_report.json").read_text())
    assert report["threshold"] == pytest.approx(shipped["threshold"], abs=1e-4)
    assert json.loads((tmp_path / "model.json").read_text()) == json.loads(
        (VIBRATION / "model.json").read_text()
    )
    x = np.load(VIBRATION / "golden_input.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "golden_input.npy"), x)
    (a,) = run_model(VIBRATION / "model.onnx", {"window": x})
    (b,) = run_model(tmp_path / "model.onnx", {"window": x})
    np.testing.assert_allclose(b, a, rtol=1e-5)
