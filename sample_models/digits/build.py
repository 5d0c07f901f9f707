"""Rebuild the digits MLP sample model, deterministically.

Trains scikit-learn's MLPClassifier on the 8x8 digits set bundled with
scikit-learn (no download), exports it to ONNX by hand with ``onnx.helper``
(Gemm -> Relu -> Gemm -> Softmax), checks the ONNX output against
``predict_proba`` on the held-out split, and writes::

    model.onnx          the network, float32, input "input" [N, 64] in 0..16 units
    model.json          the EdgeConsole model description (edgeconsole.model/1)
    golden_input.npy    one real test sample, float32 [1, 64]
    golden_output.npy   what the ONNX model gives for it, float32 [1, 10]
    build_report.json   test accuracy, parameter count, file size, sha256

Run: ``.venv/bin/python sample_models/digits/build.py [--out DIR]``
(needs the ``models`` extra: scikit-learn and onnx).

Determinism: fixed split and ``random_state``, a fixed epoch count, BLAS held to
one thread while training (thread count changes the summation order), and an
ONNX file without timestamps; two builds on one machine are byte-identical.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_limits

HERE = Path(__file__).resolve().parent

SEED = 0
TEST_FRACTION = 0.2
HIDDEN = 32
ALPHA = 1e-2
EPOCHS = 300
OPSET = 17
# The digits features are ink counts 0..16 per 4x4 block of the original 32x32 bitmap.
PIXEL_MAX = 16.0
GOLDEN_INDEX = 0  # first sample of the held-out split
GOLDEN_TOLERANCE = 1e-4  # max absolute difference of any probability
PARITY_TOLERANCE = 1e-5


def load_split() -> dict[str, np.ndarray]:
    """The fixed, stratified 80/20 split of the bundled digits set (0..16 ink units)."""
    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=TEST_FRACTION, random_state=SEED, stratify=y
    )
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def train() -> tuple[MLPClassifier, dict[str, np.ndarray]]:
    split = load_split()
    x_train, y_train = split["x_train"], split["y_train"]
    clf = MLPClassifier(
        hidden_layer_sizes=(HIDDEN,),
        activation="relu",
        alpha=ALPHA,
        max_iter=EPOCHS,
        random_state=SEED,
    )
    # A fixed epoch count is the point (small and reproducible), so the "not converged"
    # warning after EPOCHS says nothing useful.
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x_train / PIXEL_MAX, y_train)
    return clf, split


def to_onnx(clf: MLPClassifier) -> onnx.ModelProto:
    """Hand-written export; the 1/16 input scaling is folded into the first layer so the
    model takes the digits set's own 0..16 units (what the description's preprocess gives)."""
    if clf.activation != "relu" or clf.out_activation_ != "softmax":
        raise ValueError("export handles relu hidden layers with a softmax output only")
    inits = []
    nodes = []
    prev = "input"
    n_layers = len(clf.coefs_)
    for i, (w, b) in enumerate(zip(clf.coefs_, clf.intercepts_, strict=True)):
        w = np.asarray(w, dtype=np.float64)
        if i == 0:
            w = w / PIXEL_MAX
        inits.append(numpy_helper.from_array(w.astype(np.float32), f"W{i}"))
        inits.append(numpy_helper.from_array(np.asarray(b, dtype=np.float32), f"B{i}"))
        out = "logits" if i == n_layers - 1 else f"h{i}_pre"
        nodes.append(helper.make_node("Gemm", [prev, f"W{i}", f"B{i}"], [out], name=f"dense{i}"))
        if i < n_layers - 1:
            nodes.append(helper.make_node("Relu", [out], [f"h{i}"], name=f"relu{i}"))
            prev = f"h{i}"
    nodes.append(helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1, name="softmax"))
    n_classes = int(clf.coefs_[-1].shape[1])
    graph = helper.make_graph(
        nodes,
        "digits_mlp",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 64])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", n_classes])],
        initializer=inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="edgeconsole-sample-models",
        producer_version="1",
    )
    model.ir_version = 8  # readable by onnxruntime >= 1.10
    model.doc_string = "Digits MLP (8x8, 0..16 ink units) trained on scikit-learn's digits set"
    onnx.checker.check_model(model, full_check=True)
    return model


def run_onnx(model_bytes: bytes, x: np.ndarray) -> np.ndarray:
    # onnxruntime phones home unless told before it loads (DESIGN section 9).
    os.environ["ORT_DISABLE_TELEMETRY"] = "1"
    import onnxruntime as ort

    sess = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    out = sess.run(["probabilities"], {"input": np.asarray(x, dtype=np.float32)})[0]
    return np.asarray(out)


def description(accuracy: float) -> dict[str, Any]:
    return {
        "spec": "edgeconsole.model/1",
        "name": "digits-mlp",
        "version": 1,
        "model": "model.onnx",
        "description": (
            "Handwritten digit classifier: 64-32-10 MLP (ReLU, softmax) trained with "
            f"scikit-learn on its bundled 8x8 digits set; held-out accuracy {accuracy:.4f}. "
            "Feeds on a dark digit on a light background: gray, stretched to 8x8, inverted "
            "(255 - pixel) and scaled by 16/255 into the dataset's 0..16 ink units."
        ),
        "inputs": [{"name": "input", "dtype": "float32", "shape": [-1, 64], "layout": "NC"}],
        "outputs": [{"name": "probabilities", "dtype": "float32", "shape": [-1, 10]}],
        "preprocess": {
            "resize": "stretch",
            "size": [8, 8],
            "channel_order": "GRAY",
            "invert": True,
            "scale": PIXEL_MAX / 255.0,
            "mean": [0.0],
            "std": [1.0],
            "layout": "NC",
            "flatten": True,
            "dtype": "float32",
        },
        "head": {
            "type": "classify",
            "labels": [str(d) for d in range(10)],
            "top_k": 3,
            "output": "probabilities",
            # The graph ends in Softmax already; applying it again would flatten the scores.
            "softmax": False,
        },
        "latency_budget_ms": 5,
        "golden": {
            "input": "golden_input.npy",
            "output": "golden_output.npy",
            "tolerance": GOLDEN_TOLERANCE,
        },
    }


def build(out_dir: Path) -> dict[str, Any]:
    out_dir.mkdir(parents=True, exist_ok=True)
    clf, split = train()
    x_test, y_test = split["x_test"], split["y_test"]
    accuracy = float(clf.score(x_test / PIXEL_MAX, y_test))

    model = to_onnx(clf)
    model_bytes = model.SerializeToString()
    onnx_proba = run_onnx(model_bytes, x_test)
    sk_proba = clf.predict_proba(x_test / PIXEL_MAX)
    parity = float(np.max(np.abs(onnx_proba - sk_proba)))
    if parity > PARITY_TOLERANCE:
        raise RuntimeError(
            f"ONNX export differs from sklearn by {parity:.3g} (> {PARITY_TOLERANCE})"
        )
    onnx_accuracy = float(np.mean(np.argmax(onnx_proba, axis=1) == y_test))

    golden_in = x_test[GOLDEN_INDEX : GOLDEN_INDEX + 1].astype(np.float32)
    golden_out = run_onnx(model_bytes, golden_in).astype(np.float32)

    (out_dir / "model.onnx").write_bytes(model_bytes)
    np.save(out_dir / "golden_input.npy", golden_in)
    np.save(out_dir / "golden_output.npy", golden_out)
    (out_dir / "model.json").write_text(json.dumps(description(accuracy), indent=2) + "\n")

    n_params = int(sum(w.size + b.size for w, b in zip(clf.coefs_, clf.intercepts_, strict=True)))
    report = {
        "model": "digits-mlp",
        "train_samples": len(split["y_train"]),
        "test_samples": len(y_test),
        "test_accuracy_sklearn": accuracy,
        "test_accuracy_onnx": onnx_accuracy,
        "onnx_vs_sklearn_max_abs_diff": parity,
        "parameters": n_params,
        "onnx_bytes": len(model_bytes),
        "onnx_sha256": hashlib.sha256(model_bytes).hexdigest(),
        "golden_label": int(y_test[GOLDEN_INDEX]),
        "golden_predicted": int(np.argmax(golden_out)),
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
