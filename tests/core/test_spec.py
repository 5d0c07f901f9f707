import json
from pathlib import Path
from typing import Any

import pytest

from edgeconsole.core.errors import ConfigError
from edgeconsole.inference.spec import ModelSpec, load_model_spec


def _desc(**over: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "spec": "edgeconsole.model/1",
        "name": "m",
        "version": 2,
        "model": "m.onnx",
        "inputs": [{"name": "x", "dtype": "float32", "shape": [1, 3, 32, 32], "layout": "NCHW"}],
        "outputs": [{"name": "y", "dtype": "float32", "shape": [1, 2]}],
        "preprocess": {
            "resize": "letterbox",
            "size": [32, 32],
            "mean": [0.5, 0.5, 0.5],
            "std": [0.5, 0.5, 0.5],
        },
        "head": {"type": "classify", "labels": ["ok", "bad"], "top_k": 1},
        "latency_budget_ms": 10,
    }
    d.update(over)
    return d


def test_round_trip() -> None:
    spec = ModelSpec.parse(_desc(), None)
    assert ModelSpec.parse(spec.to_json(), None) == spec
    assert spec.preprocess.size == (32, 32)
    assert spec.head.labels == ("ok", "bad")


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.update(extra=1), "unknown field"),
        (lambda d: d["preprocess"].update(meam=[0, 0, 0]), "unknown field"),
        (lambda d: d["head"].update(thresh=0.5), "unknown field"),
        (lambda d: d.update(spec="edgeconsole.model/9"), "unsupported spec"),
        (lambda d: d.update(model="../evil.onnx"), "plain file name"),
        (lambda d: d.update(model="/etc/passwd"), "plain file name"),
        (lambda d: d.update(inputs=[]), "non-empty"),
        (lambda d: d["inputs"][0].update(dtype="complex128"), "dtype"),
        (lambda d: d["inputs"][0].update(shape=[1, "x"]), "shape"),
        (lambda d: d["preprocess"].update(std=[1, 0, 1]), "zero"),
        (lambda d: d["preprocess"].update(mean=[1, 2]), "3 values"),
        (lambda d: d["preprocess"].update(size=[0, 32]), "positive"),
        (lambda d: d["head"].update(type="segment"), "head.type"),
        (lambda d: d["head"].update(labels=["a", "A"]), "duplicates"),
        (lambda d: d["head"].update(top_k=True), "integer"),
        (lambda d: d.update(version="2"), "integer"),
        (lambda d: d.pop("head"), "missing field 'head'"),
    ],
)
def test_bad_descriptions_are_refused(mutate: Any, message: str) -> None:
    d = _desc()
    mutate(d)
    with pytest.raises(ConfigError, match=message):
        ModelSpec.parse(d, None)


def test_nested_orientation_must_be_classify() -> None:
    inner = _desc(head={"type": "anomaly", "threshold": 1.0})
    d = _desc(head={"type": "text-detect", "orientation": inner})
    with pytest.raises(ConfigError, match="classify"):
        ModelSpec.parse(d, None)


def test_load_model_spec_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_model_spec(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"\xff\xfe{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_model_spec(bad)
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (1 << 20) + b"{}")
    with pytest.raises(ConfigError, match="larger than"):
        load_model_spec(big)
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "model.json").write_text(json.dumps(_desc()))
    spec = load_model_spec(folder)
    assert spec.model_path == folder / "m.onnx"


def test_truncated_and_hostile_json(tmp_path: Path) -> None:
    text = json.dumps(_desc())
    for cut in (1, len(text) // 2, len(text) - 1):
        p = tmp_path / f"cut{cut}.json"
        p.write_text(text[:cut])
        with pytest.raises(ConfigError):
            load_model_spec(p)
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ConfigError):
        load_model_spec(deep)
    arr = tmp_path / "arr.json"
    arr.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="JSON object"):
        load_model_spec(arr)
