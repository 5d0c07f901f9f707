from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from edgeconsole.core.errors import ConfigError
from edgeconsole.inference.loader import load_model
from tests.fixtures.onnx_models import colour_classifier, colour_classifier_json


def test_json_and_folder(tmp_path: Path) -> None:
    path = colour_classifier_json(tmp_path)
    assert load_model(path).name == "colour"
    spec = load_model(tmp_path)
    assert spec.model_path == tmp_path / "colour.onnx"


def test_bare_onnx_explains_a_description_is_needed(tmp_path: Path) -> None:
    m = colour_classifier(tmp_path / "m.onnx")
    with pytest.raises(ConfigError) as e:
        load_model(m)
    assert "model.json" in str(e.value) and ".ecb" in str(e.value)
    # Even without the suffix, ONNX content is recognised.
    renamed = m.rename(tmp_path / "model.bin")
    with pytest.raises(ConfigError, match="ONNX file alone"):
        load_model(renamed)


def test_bundle_is_routed_to_the_session(tmp_path: Path) -> None:
    b = tmp_path / "x-1.ecb"
    b.write_bytes(b"anything")
    with pytest.raises(ConfigError, match="bundles are opened through the session"):
        load_model(b)
    tar_path = tmp_path / "x.tar"
    (tmp_path / "manifest.json").write_text("{}")
    with tarfile.open(tar_path, "w", format=tarfile.USTAR_FORMAT) as tf:
        tf.add(tmp_path / "manifest.json", arcname="manifest.json")
    with pytest.raises(ConfigError, match="looks like a model bundle"):
        load_model(tar_path)


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("model.json", b"\x89PNG\r\n\x1a\n\x00\x00", "not valid JSON"),
        ("model.json", b"", "not valid JSON"),
        ("model.json", b"{ not json", "not valid JSON"),
        ("model.json", b"[1, 2, 3]", "must be a JSON object"),
        ("model.json", b'{"name": "x"}', "missing field"),
        ("model.json", b"\xff\xfe{\x00", "not valid JSON"),
        ("model.dat", b"\x89PNG\r\n\x1a\n\x00\x00", "not a model description"),
        ("model.dat", b"", "not a model description"),
        ("model.dat", b'  {"name": "x"}', "missing field"),
    ],
)
def test_hostile_files(tmp_path: Path, name: str, content: bytes, match: str) -> None:
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(ConfigError, match=match):
        load_model(p)


def test_oversized_description(tmp_path: Path) -> None:
    p = tmp_path / "model.json"
    p.write_bytes(b"{" + b" " * (2 << 20) + b"}")
    with pytest.raises(ConfigError, match="larger than 1 MiB"):
        load_model(p)


def test_missing_things(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_model(tmp_path / "nope.json")
    with pytest.raises(ConfigError, match=r"folder has no model\.json"):
        load_model(tmp_path)
