from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from edgeconsole.core.errors import ModelError, ModelLoadError
from edgeconsole.inference.providers import available_providers, make_ort_session
from tests.fixtures.onnx_models import colour_classifier


def test_cpu_is_available_and_default(tmp_path: Path) -> None:
    assert "CPUExecutionProvider" in available_providers()
    s = make_ort_session(colour_classifier(tmp_path / "m.onnx"))
    assert s.get_providers() == ["CPUExecutionProvider"]


def test_session_from_bytes_runs_with_thread_count(tmp_path: Path) -> None:
    data = colour_classifier(tmp_path / "m.onnx").read_bytes()
    s = make_ort_session(data, threads=1, name="m.onnx")
    x = np.zeros((1, 3, 8, 8), np.float32)
    x[0, 2] = 1.0
    (out,) = s.run(None, {"x": x})
    np.testing.assert_allclose(out, [[0.0, 0.0, 1.0]], atol=1e-6)


def test_not_onnx_names_the_file_and_what_it_holds(tmp_path: Path) -> None:
    bad = tmp_path / "photo.onnx"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    with pytest.raises(ModelLoadError) as e:
        make_ort_session(bad)
    msg = str(e.value)
    assert str(bad) in msg and "not an ONNX model: the file holds a PNG image" in msg
    assert "\n" not in msg  # one line for a person
    # Protobuf-looking bytes that still do not parse: onnxruntime's reason, one line.
    bad.write_bytes(b"\x08" + bytes(range(256)) * 4)
    with pytest.raises(ModelLoadError, match="not a loadable ONNX model") as e:
        make_ort_session(bad)
    assert "\n" not in str(e.value)


def test_truncated_onnx(tmp_path: Path) -> None:
    good = colour_classifier(tmp_path / "m.onnx").read_bytes()
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(good[: len(good) // 2])
    with pytest.raises(ModelLoadError, match=r"cut\.onnx"):
        make_ort_session(cut)


def test_empty_missing_and_directory(tmp_path: Path) -> None:
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(ModelLoadError, match="empty"):
        make_ort_session(empty)
    with pytest.raises(ModelLoadError, match="not found"):
        make_ort_session(tmp_path / "nope.onnx")
    with pytest.raises(ModelLoadError, match="not found"):
        make_ort_session(tmp_path)
    with pytest.raises(ModelLoadError, match="empty"):
        make_ort_session(b"", name="inner.onnx")


def test_garbage_bytes_are_named_by_their_bundle_file_name() -> None:
    with pytest.raises(ModelLoadError, match=r"^det\.onnx: "):
        make_ort_session(b"\x00" * 100 + b"garbage", name="det.onnx")


def test_unknown_provider_lists_the_available_ones(tmp_path: Path) -> None:
    m = colour_classifier(tmp_path / "m.onnx")
    with pytest.raises(ModelError) as e:
        make_ort_session(m, providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert "CUDAExecutionProvider" in str(e.value)
    assert "CPUExecutionProvider" in str(e.value)  # in the list of available ones
    assert not isinstance(e.value, ModelLoadError)


@pytest.mark.parametrize("threads", [0, -2, True])
def test_bad_thread_count(tmp_path: Path, threads: int) -> None:
    with pytest.raises(ModelError, match="thread"):
        make_ort_session(colour_classifier(tmp_path / "m.onnx"), threads=threads)


def test_runtime_info_names_provider_threads_and_version(tmp_path: Path) -> None:
    from edgeconsole.inference.engine import InferenceEngine
    from edgeconsole.inference.loader import load_model
    from edgeconsole.inference.providers import describe_runtime

    digits = Path(__file__).resolve().parents[2] / "sample_models" / "digits"
    for threads, shown in ((1, "1 thread"), (2, "2 threads"), (None, "threads auto")):
        engine = InferenceEngine.load(load_model(digits), threads=threads)
        try:
            info = engine.runtime
        finally:
            engine.close()
        assert info["provider"] == "CPUExecutionProvider" == info["providers"][0]
        assert info["threads"] == (threads or "auto")
        assert info["onnxruntime"] == ort.__version__
        assert (
            describe_runtime(info)
            == f"CPUExecutionProvider, {shown}, onnxruntime {ort.__version__}"
        )
