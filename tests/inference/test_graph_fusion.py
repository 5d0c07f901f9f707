"""The hard-swish rewrite: exact patterns only, the same answers from real onnxruntime,
on the real PP-OCR models and on small graphs built to almost match."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgeconsole.inference.graph_fusion import fuse_hard_swish
from edgeconsole.inference.loader import load_model
from edgeconsole.inference.part_inspector import PartInspector
from edgeconsole.inference.providers import make_ort_session
from edgeconsole.sources.conveyor import ConveyorScene

MODELS = Path(__file__).resolve().parents[2] / "sample_models"


def _hard_swish_graph(
    three: float = 3.0,
    six: float = 6.0,
    extra_use: bool = False,
    output_clip: bool = False,
) -> bytes:
    """y = Div(Mul(x, Clip(Add(x, 3), 0, 6)), 6) + 1, as paddle2onnx writes it (opset 11)."""

    def const(name: str, v: float) -> onnx.NodeProto:
        return helper.make_node(
            "Constant", [], [name], value=numpy_helper.from_array(np.array(v, np.float32))
        )

    nodes = [
        const("c3", three),
        const("c0", 0.0),
        const("c6", 6.0),
        const("d6", six),
        const("one", 1.0),
        helper.make_node("Add", ["x", "c3"], ["a"]),
        helper.make_node("Clip", ["a", "c0", "c6"], ["c"]),
        helper.make_node("Mul", ["x", "c"], ["m"]),
        helper.make_node("Div", ["m", "d6"], ["h"]),
        helper.make_node("Add", ["h", "one"], ["y"]),
    ]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 8])]
    if extra_use:  # the Add's result also feeds something else
        nodes.append(helper.make_node("Mul", ["a", "one"], ["z"]))
        outputs.append(helper.make_tensor_value_info("z", TensorProto.FLOAT, [2, 8]))
    if output_clip:  # the Clip's result is a graph output
        outputs.append(helper.make_tensor_value_info("c", TensorProto.FLOAT, [2, 8]))
    graph = helper.make_graph(
        nodes, "hs", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8])], outputs
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    model.ir_version = 7
    return model.SerializeToString()


def _run(data: bytes, x: np.ndarray, fuse: bool) -> list[np.ndarray]:
    sess = make_ort_session(data, threads=1, name="test.onnx", fuse=fuse)
    return [np.asarray(v) for v in sess.run(None, {"x": x})]


def test_an_exact_hard_swish_becomes_two_nodes_with_the_same_answer() -> None:
    data = _hard_swish_graph()
    fused, n = fuse_hard_swish(data)
    assert n == 1
    ops = [node.op_type for node in onnx.load_from_string(fused).graph.node]
    assert "Clip" not in ops and "Div" not in ops and ops.count("HardSigmoid") == 1
    x = np.linspace(-8, 8, 16, dtype=np.float32).reshape(2, 8)
    (want,) = _run(data, x, fuse=False)
    (got,) = _run(data, x, fuse=True)
    expected = x * np.clip(x + 3, 0, 6) / 6 + 1
    np.testing.assert_allclose(want, expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    "variant",
    [{"three": 3.5}, {"six": 5.0}, {"extra_use": True}, {"output_clip": True}],
    ids=["add-3.5", "div-5", "add-used-twice", "clip-is-an-output"],
)
def test_near_misses_are_left_exactly_as_written(variant: dict) -> None:
    data = _hard_swish_graph(**variant)
    fused, n = fuse_hard_swish(data)
    assert n == 0 and fused is data
    x = np.linspace(-8, 8, 16, dtype=np.float32).reshape(2, 8)
    for a, b in zip(_run(data, x, fuse=False), _run(data, x, fuse=True), strict=True):
        assert np.array_equal(a, b)


def test_not_an_onnx_model_is_left_for_onnxruntime_to_refuse() -> None:
    junk = b"Clip" + bytes(range(256)) * 4
    assert fuse_hard_swish(junk) == (junk, 0)


@pytest.mark.parametrize(
    ("path", "blocks"),
    [("label_orientation/cls.onnx", 18), ("label_inspector/det.onnx", 24)],
)
def test_the_pp_ocr_models_are_rewritten(path: str, blocks: int) -> None:
    data = (MODELS / path).read_bytes()
    _, n = fuse_hard_swish(data)
    assert n == blocks


def test_the_fast_bundle_classifies_real_crops_the_same_either_way() -> None:
    """The tensors the decision path builds from real conveyor frames, through the
    classifier as written and as rewritten: the same class and the same side of the
    head's threshold on every crop (so the same verdict), probabilities within 1e-5."""
    spec = load_model(MODELS / "label_orientation")
    insp = PartInspector.load(spec, threads=1)
    tensors: list[np.ndarray] = []
    real_run = insp.runner.run

    def keep(t: np.ndarray) -> dict[str, np.ndarray]:
        tensors.append(t)
        return real_run(t)

    insp.runner.run = keep  # type: ignore[method-assign]
    scene = ConveyorScene(seed=4, parts_per_min=600.0)
    for i in range(0, 420, 6):
        img = scene.render(i)[0]
        boxes = [p.box for p in insp.locate(img) if p.complete]
        if boxes:
            insp.decide(img, boxes)
    insp.close()
    assert len(tensors) >= 30
    data = (MODELS / "label_orientation" / "cls.onnx").read_bytes()
    plain = make_ort_session(data, threads=1, name="cls.onnx", fuse=False)
    fused = make_ort_session(data, threads=1, name="cls.onnx")
    threshold = float(spec.head.params["threshold"])
    for t in tensors:
        a = plain.run(None, {"x": t})[0]
        b = fused.run(None, {"x": t})[0]
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-5)
        assert np.array_equal(a.argmax(axis=1), b.argmax(axis=1))
        assert np.array_equal(a.max(axis=1) >= threshold, b.max(axis=1) >= threshold)
