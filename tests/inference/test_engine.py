from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgeconsole.core.errors import (
    ConfigError,
    InferenceOutputError,
    ModelError,
    ModelLoadError,
    ModelShapeError,
)
from edgeconsole.core.frames import Frame, LatencySample, OverlayBanner
from edgeconsole.inference.engine import InferenceEngine
from edgeconsole.inference.spec import load_model_spec
from tests.fixtures.onnx_models import (
    colour_classifier_json,
    describe,
    inf_model,
    nan_model,
    scale_model,
    sum_model,
)


def frame(img: np.ndarray, index: int = 0) -> Frame:
    f = Frame(index=index, image=img, captured_ns=0, source="test")
    return f


def solid(bgr: tuple[int, int, int], h: int = 40, w: int = 60) -> np.ndarray:
    img = np.zeros((h, w, 3), np.uint8)
    img[:] = bgr
    return img


def test_classifier_end_to_end_with_stamps(tmp_path: Path) -> None:
    eng = InferenceEngine.load(load_model_spec(colour_classifier_json(tmp_path)), threads=1)
    f = frame(solid((255, 0, 0)), index=7)  # pure blue in BGR
    from edgeconsole.core.clock import now_ns

    f.stamps["captured"] = now_ns()
    r = eng.process(f)
    assert r.frame_index == 7
    assert r.classification is not None and r.classification.label == "blue"
    assert next(label for label, _ in r.classification.topk) == "blue"
    assert sum(s for _, s in r.classification.topk) == pytest.approx(1.0, abs=1e-5)
    assert any(isinstance(o, OverlayBanner) and "blue" in o.text for o in r.overlay)
    keys = [
        "preprocess_start",
        "preprocess_end",
        "infer_start",
        "infer_end",
        "postprocess_start",
        "postprocess_end",
        "overlay_start",
        "overlay_end",
    ]
    values = [f.stamps[k] for k in keys]
    assert values == sorted(values) and values[0] >= f.stamps["captured"]
    sample = LatencySample.from_stamps(7, f.stamps)
    assert set(sample.stages) == {"preprocess", "infer", "postprocess", "overlay"}
    assert sample.e2e_ms >= sum(sample.stages.values()) - 1e-9
    assert eng.providers == ["CPUExecutionProvider"]
    eng.close()
    eng.close()  # idempotent
    with pytest.raises(ModelError, match="closed"):
        eng.process(frame(solid((0, 0, 0))))


def test_model_bytes_from_a_bundle(tmp_path: Path) -> None:
    spec = load_model_spec(colour_classifier_json(tmp_path))
    data = (tmp_path / "colour.onnx").read_bytes()
    (tmp_path / "colour.onnx").unlink()  # prove the path is not read
    eng = InferenceEngine.load(spec, model_bytes={"colour.onnx": data})
    r = eng.process(frame(solid((0, 255, 0))))
    assert r.classification is not None and r.classification.label == "green"
    with pytest.raises(ModelLoadError, match="not among the supplied files"):
        InferenceEngine.load(spec, model_bytes={"other.onnx": data})


def test_model_input_shape_differs_from_description(tmp_path: Path) -> None:
    spec = load_model_spec(colour_classifier_json(tmp_path, size=8, model_size=16))
    with pytest.raises(ModelShapeError) as e:
        InferenceEngine.load(spec)
    msg = str(e.value)
    assert "input 'x' dimension 2 is 16 in the model but 8 in the description" in msg
    assert "colour.onnx" in msg


def test_preprocess_size_differs_from_input_shape(tmp_path: Path) -> None:
    path = colour_classifier_json(tmp_path, preprocess={"resize": "stretch", "size": [10, 10]})
    with pytest.raises(
        ModelShapeError, match=r"produces 1x3x10x10 tensors, but the model description takes"
    ):
        InferenceEngine.load(load_model_spec(path))


def test_data_shape_mismatch_at_run_time(tmp_path: Path) -> None:
    # resize "none" (declared raw): the frame goes in at its own size, which the model refuses.
    path = colour_classifier_json(tmp_path, preprocess={"resize": "none", "raw": True})
    eng = InferenceEngine.load(load_model_spec(path))
    ok = eng.process(frame(solid((0, 0, 255), 8, 8)))
    assert ok.classification is not None and ok.classification.label == "red"
    with pytest.raises(ModelShapeError, match=r"\[1, 3, 40, 60\] after preprocessing"):
        eng.process(frame(solid((0, 0, 255))))
    # The engine keeps working after a refused frame.
    assert eng.process(frame(solid((0, 0, 255), 8, 8))).classification is not None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"inputs": [{"name": "image", "dtype": "float32", "shape": [1, 3, 8, 8]}]},
            "input 'image' is described but the model has no such input",
        ),
        (
            {"inputs": [{"name": "x", "dtype": "uint8", "shape": [1, 3, 8, 8]}]},
            "input 'x' is float32 in the model but uint8",
        ),
        (
            {"inputs": [{"name": "x", "dtype": "float32", "shape": [1, 3, 8]}]},
            "input 'x' has rank 4",
        ),
        (
            {"outputs": [{"name": "probs", "dtype": "float32", "shape": [1, 3]}]},
            "output 'probs' is described but the model has no such output",
        ),
        (
            {"outputs": [{"name": "logits", "dtype": "float32", "shape": [1, 5]}]},
            "output 'logits' dimension 1 is 3 in the model but 5",
        ),
    ],
)
def test_description_mismatches(tmp_path: Path, change: dict, message: str) -> None:
    with pytest.raises(ModelShapeError, match=message.replace("[", r"\[")):
        InferenceEngine.load(load_model_spec(colour_classifier_json(tmp_path, **change)))


def test_labels_count_mismatch_is_caught_on_decode(tmp_path: Path) -> None:
    head = {"type": "classify", "labels": ["a", "b"]}
    eng = InferenceEngine.load(load_model_spec(colour_classifier_json(tmp_path, head=head)))
    with pytest.raises(ModelShapeError, match="3 classes but the description has 2 labels"):
        eng.process(frame(solid((1, 2, 3))))


def _vector(
    tmp_path: Path, builder, out: str, head: dict, n: int = 4, batch: int = 1
) -> InferenceEngine:
    builder(tmp_path / "m.onnx", n=n)
    path = describe(
        tmp_path,
        name="vec",
        model="m.onnx",
        inputs=[{"name": "x", "dtype": "float32", "shape": [batch, n], "layout": "NC"}],
        outputs=[{"name": out, "dtype": "float32", "shape": [batch, n if out == "y" else 1]}],
        preprocess={"resize": "none", "layout": "NC", "scale": 1.0, "channel_order": "GRAY"},
        head=head,
    )
    return InferenceEngine.load(load_model_spec(path))


def test_nan_output_names_the_output(tmp_path: Path) -> None:
    eng = _vector(tmp_path, nan_model, "y", {"type": "anomaly", "threshold": 1.0})
    with pytest.raises(InferenceOutputError) as e:
        eng.process_array(np.ones(4, np.float32))
    assert "output 'y' contains NaN (4 of 4 values)" in str(e.value)


def test_inf_output(tmp_path: Path) -> None:
    eng = _vector(tmp_path, inf_model, "y", {"type": "anomaly", "threshold": 1.0})
    with pytest.raises(InferenceOutputError, match="output 'y' contains Inf"):
        eng.process_array(np.ones(4, np.float32))


def test_anomaly_value_and_mse(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    eng = _vector(tmp_path / "a", sum_model, "score", {"type": "anomaly", "threshold": 5.0})
    stamps: dict[str, int] = {}
    r = eng.process_array(np.array([1, 1, 1, 1], np.float32), index=3, stamps=stamps)
    assert r.anomaly is not None and r.anomaly.score == pytest.approx(4.0)
    assert not r.anomaly.is_anomaly and r.frame_index == 3 and "infer_end" in stamps
    r = eng.process_array(np.array([2, 2, 2, 2], np.float32))
    assert r.anomaly is not None and r.anomaly.is_anomaly
    assert isinstance(r.overlay[0], OverlayBanner) and r.overlay[0].role == "fail"
    mse = _vector(
        tmp_path / "b",
        scale_model,
        "y",
        {"type": "anomaly", "threshold": 0.5, "score": "mse"},
        batch=-1,
    )
    r = mse.process_array(np.array([2, 2, 2, 2], np.float32))
    assert r.anomaly is not None and r.anomaly.score == pytest.approx(1.0)  # (2 - 1)^2


def test_process_array_wrong_length(tmp_path: Path) -> None:
    eng = _vector(tmp_path, sum_model, "score", {"type": "anomaly", "threshold": 5.0})
    with pytest.raises(ModelShapeError, match=r"input 'x' is \[1, 5\]"):
        eng.process_array(np.ones(5, np.float32))


def test_unknown_provider_through_the_engine(tmp_path: Path) -> None:
    spec = load_model_spec(colour_classifier_json(tmp_path))
    with pytest.raises(ModelError, match="not available"):
        InferenceEngine.load(spec, providers=["NoSuchExecutionProvider"])


def test_not_onnx_model_file_through_the_engine(tmp_path: Path) -> None:
    spec_path = colour_classifier_json(tmp_path)
    (tmp_path / "colour.onnx").write_text("this is not onnx")
    with pytest.raises(ModelLoadError, match=r"colour\.onnx"):
        InferenceEngine.load(load_model_spec(spec_path))


def test_head_output_must_be_declared(tmp_path: Path) -> None:
    head = {"type": "classify", "labels": ["r", "g", "b"], "output": "nope"}
    with pytest.raises(ConfigError, match=r"head\.output 'nope'"):
        InferenceEngine.load(load_model_spec(colour_classifier_json(tmp_path, head=head)))


def test_two_inputs_are_refused(tmp_path: Path) -> None:
    path = colour_classifier_json(tmp_path)
    obj = json.loads(path.read_text())
    obj["inputs"].append({"name": "x2", "dtype": "float32", "shape": [1]})
    path.write_text(json.dumps(obj))
    with pytest.raises(ModelShapeError, match="exactly one"):
        InferenceEngine.load(load_model_spec(path))


def test_calls_from_two_threads_are_serialised(tmp_path: Path) -> None:
    import threading

    eng = InferenceEngine.load(load_model_spec(colour_classifier_json(tmp_path)))
    colours = {"red": (0, 0, 255), "green": (0, 255, 0), "blue": (255, 0, 0)}
    errors: list[str] = []

    def worker(name: str) -> None:
        for _ in range(50):
            r = eng.process(frame(solid(colours[name])))
            if r.classification is None or r.classification.label != name:
                errors.append(name)

    threads = [threading.Thread(target=worker, args=(n,)) for n in colours]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors and not any(t.is_alive() for t in threads)
