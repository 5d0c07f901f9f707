"""The ONNX checks that run before onnx/onnxruntime ever load a bundle's model:
protobuf parsing of hostile bytes, and external-data locations (traversal, absolute
paths, links, other models, ranges) refused before anything is opened."""

from __future__ import annotations

import onnx
from hypothesis import given
from hypothesis import strategies as st

from edgeconsole.bundles.names import name_problem
from edgeconsole.bundles.onnx_check import check_external_data, parse_model_proto
from edgeconsole.core.errors import BundleError
from tests.fuzz._bundle import member
from tests.fuzz._settings import count, fuzz

LENGTHS = {"weights.bin": 4096, "model.onnx": 10041, "golden_input.npy": 384}

locations = st.one_of(
    st.sampled_from(
        [
            "weights.bin",
            "../weights.bin",
            "/etc/passwd",
            "model.onnx",
            "a/b.bin",
            "C:\\w.bin",
            "weights.bin\0.txt",
            "./weights.bin",
            "..",
            "",
            "WEIGHTS.BIN",
            "golden_input.npy",
            "x.onnx",
            "weights.bin/",
        ]
    ),
    st.text(max_size=40),
)
numbers = st.one_of(
    st.integers(-10, 10_000).map(str),
    st.text(max_size=12),
    st.sampled_from(["1_0", " 5", "0x10", "9" * 5000, "-0", "+3", "١٢"]),
)


def _model_with(refs: list[dict[str, str]]) -> onnx.ModelProto:
    model = onnx.ModelProto()
    model.ParseFromString(member("model.onnx"))
    for i, ref in enumerate(refs):
        t = model.graph.initializer.add()
        t.name = f"ext{i}"
        t.data_type = onnx.TensorProto.FLOAT
        t.dims.append(4)
        t.data_location = onnx.TensorProto.EXTERNAL
        for k, v in ref.items():
            e = t.external_data.add()
            e.key, e.value = k, v
    return model


@fuzz(quick=80)
@given(
    st.lists(
        st.fixed_dictionaries(
            {"location": locations}, optional={"offset": numbers, "length": numbers}
        ),
        min_size=1,
        max_size=3,
    )
)
def test_external_data_is_inside_the_bundle_or_refused(refs: list[dict[str, str]]) -> None:
    count("onnx: external-data locations")
    model = _model_with(refs)
    try:
        used = check_external_data(model, "model.onnx", LENGTHS, "fuzz.ecb")
    except BundleError as exc:
        assert str(exc)
        return
    for ref in refs:
        loc = ref["location"]
        assert loc in used and loc in LENGTHS and loc != "model.onnx"
        assert name_problem(loc) is None
        off = int(ref.get("offset", "0"))
        n = int(ref["length"]) if "length" in ref else LENGTHS[loc] - off
        assert off >= 0 and n >= 0 and off + n <= LENGTHS[loc]


@fuzz(quick=80)
@given(st.data())
def test_hostile_model_bytes_parse_or_are_refused(data: st.DataObject) -> None:
    count("onnx: hostile model bytes")
    real = bytearray(member("model.onnx"))
    kind = data.draw(st.sampled_from(["random", "flip", "truncate", "splice"]))
    if kind == "random":
        blob = data.draw(st.binary(max_size=2048))
    elif kind == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            i = data.draw(st.integers(0, len(real) - 1))
            real[i] ^= 1 << data.draw(st.integers(0, 7))
        blob = bytes(real)
    elif kind == "truncate":
        blob = bytes(real[: data.draw(st.integers(0, len(real)))])
    else:
        i = data.draw(st.integers(0, len(real)))
        blob = bytes(real[:i]) + data.draw(st.binary(max_size=256)) + bytes(real[i:])
    try:
        model = parse_model_proto(blob, "model.onnx", "fuzz.ecb")
    except BundleError as exc:
        assert str(exc)
        return
    try:
        check_external_data(model, "model.onnx", LENGTHS, "fuzz.ecb")
    except BundleError as exc:
        assert str(exc)
