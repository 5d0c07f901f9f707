"""The bundle and bench commands end to end: real keys, real archives, real
onnxruntime. Commands run through edgeconsole.cli.main.main like a shell would."""

from __future__ import annotations

import io
import json
import stat
import tarfile
from pathlib import Path

import numpy as np
import onnx
import pytest

from edgeconsole.cli.main import main
from tests.fixtures.bundles import tiny_model

PRE = json.dumps(
    {
        "resize": "none",
        "layout": "NC",
        "channel_order": "GRAY",
        "mean": [0.0],
        "std": [1.0],
        "scale": 1.0,
    }
)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    assert main(["bundle", "keygen", "--out", str(tmp_path / "keys")]) == 0
    model = tiny_model()
    helper = onnx.helper
    helper.set_model_props(model, {"author": "tests", "version_tag": "1"})
    onnx.save(model, tmp_path / "tiny.onnx")
    (tmp_path / "labels.txt").write_text("cat\ndog\nbird\n")
    return tmp_path


def _build(d: Path, out: str, *extra: str) -> int:
    return main(
        [
            "bundle",
            "build",
            str(d / "tiny.onnx"),
            "--name",
            "tiny",
            "--version",
            "3",
            "--head",
            "classify",
            "--labels",
            str(d / "labels.txt"),
            "--preprocess",
            PRE,
            "--hardware-id",
            "laptop",
            "--hardware-id",
            "gw",
            "--sign",
            str(d / "keys" / "signing.key"),
            "--created",
            "2026-01-01T00:00:00Z",
            "--budget-ms",
            "20",
            "-o",
            str(d / out),
            *extra,
        ]
    )


def test_keygen_private_key_is_0600(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert stat.S_IMODE((workdir / "keys" / "signing.key").stat().st_mode) == 0o600
    assert main(["bundle", "keygen", "--out", str(workdir / "keys")]) == 1
    assert "already exists" in capsys.readouterr().err


def test_build_verify_inspect(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _build(workdir, "t.ecb") == 0
    capsys.readouterr()
    assert main(["bundle", "verify", str(workdir / "t.ecb"), "--trust", str(workdir / "keys")]) == 0
    assert capsys.readouterr().out.startswith("OK t.ecb: tiny v3, signed by signing")
    # Wrong hardware / downgrade: exit 1, one line.
    assert (
        main(
            [
                "bundle",
                "verify",
                str(workdir / "t.ecb"),
                "--trust",
                str(workdir / "keys"),
                "--hardware-id",
                "mcu",
            ]
        )
        == 1
    )
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "REFUSED t.ecb: built for hardware laptop, gw, not mcu" in out
    assert (
        main(
            [
                "bundle",
                "verify",
                str(workdir / "t.ecb"),
                "--trust",
                str(workdir / "keys"),
                "--installed-version",
                "4",
            ]
        )
        == 1
    )
    assert "lower than the installed version 4" in capsys.readouterr().out

    assert (
        main(
            [
                "bundle",
                "inspect",
                str(workdir / "t.ecb"),
                "--trust",
                str(workdir / "keys"),
                "--json",
            ]
        )
        == 0
    )
    info = json.loads(capsys.readouterr().out)
    m = info["models"]["tiny.onnx"]
    assert m["opsets"] == {"ai.onnx": 17}
    assert m["operators"] == {"Add": 1, "MatMul": 1, "Softmax": 1}
    assert m["parameters"] == 4 * 3 + 3
    assert m["metadata_props"] == {"author": "tests", "version_tag": "1"}
    assert m["inputs"] == [{"name": "x", "dtype": "float32", "shape": [-1, 4]}]
    assert info["trusted"] and info["signers"][0]["status"] == "verified"
    assert info["quantization"] == {"mode": "none"}
    assert info["hardware_ids"] == ["laptop", "gw"]
    assert info["size_bytes"] == (workdir / "t.ecb").stat().st_size
    # Without a trust store: looked at, but not trusted.
    assert main(["bundle", "inspect", str(workdir / "t.ecb"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert not info["trusted"] and info["signers"][0]["status"] == "not checked"
    assert main(["bundle", "inspect", str(workdir / "t.ecb")]) == 0
    text = capsys.readouterr().out
    assert "NOT TRUSTED" in text and "operators: Add×1, MatMul×1, Softmax×1" in text


def test_build_is_reproducible_and_golden_is_real(workdir: Path) -> None:
    assert _build(workdir, "a.ecb") == 0
    assert _build(workdir, "b.ecb") == 0
    assert (workdir / "a.ecb").read_bytes() == (workdir / "b.ecb").read_bytes()
    with tarfile.open(workdir / "a.ecb") as tar:
        names = tar.getnames()
        gin = np.load(io.BytesIO(tar.extractfile("golden_input.npy").read()))  # type: ignore[union-attr]
        gout = np.load(io.BytesIO(tar.extractfile("golden_output.npy").read()))  # type: ignore[union-attr]
    assert names[:2] == ["manifest.json", "manifest.sig"]
    import onnxruntime as ort

    sess = ort.InferenceSession(str(workdir / "tiny.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(sess.run(None, {"x": gin})[0], gout, atol=1e-6)


def test_verified_bundle_loads_into_the_engine(workdir: Path) -> None:
    from edgeconsole.inference.engine import InferenceEngine
    from edgeconsole.workshop.access import open_verified

    assert _build(workdir, "t.ecb") == 0
    vb = open_verified(workdir / "t.ecb", workdir / "keys")
    engine = InferenceEngine.load(vb.description, model_bytes=vb.files)
    gin = np.load(io.BytesIO(vb.file_bytes("golden_input.npy")))
    gout = np.load(io.BytesIO(vb.file_bytes("golden_output.npy")))
    out = engine.run_tensor(gin)
    np.testing.assert_allclose(next(iter(out.values())), gout, atol=vb.manifest.golden["tolerance"])


def test_build_refuses_bad_description(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = json.dumps({"resize": "none", "sharpen": True})
    rc = main(
        [
            "bundle",
            "build",
            str(workdir / "tiny.onnx"),
            "--name",
            "t",
            "--version",
            "1",
            "--head",
            "classify",
            "--labels",
            str(workdir / "labels.txt"),
            "--preprocess",
            bad,
            "--hardware-id",
            "x",
            "--sign",
            str(workdir / "keys" / "signing.key"),
            "-o",
            str(workdir / "t.ecb"),
        ]
    )
    assert rc == 1 and "sharpen" in capsys.readouterr().err
    assert not (workdir / "t.ecb").exists()


def test_int8_dynamic_and_static(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    calib = workdir / "calib"
    calib.mkdir()
    rng = np.random.default_rng(1)
    np.save(calib / "windows.npy", rng.standard_normal((16, 1, 4)).astype(np.float32))
    capsys.readouterr()
    assert (
        _build(workdir, "s.ecb", "--int8", "--calib", str(calib), "--compare-runs", "20", "--json")
        == 0
    )
    res = json.loads(capsys.readouterr().out)
    cmp_ = res["int8_comparison"]
    assert [v["name"] for v in cmp_["variants"]] == ["fp32", "int8-static", "int8-dynamic"]
    static = cmp_["variants"][1]
    assert 0.0 <= static["top1_agreement"] <= 1.0 and static["max_abs_diff"] >= 0.0
    assert cmp_["recommendation"]
    assert res["quantization"]["mode"] == "static-qdq"
    assert res["quantization"]["calibration_samples"] == 16
    assert main(["bundle", "inspect", str(workdir / "s.ecb"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["models"]["tiny.onnx"]["quantized"]
    assert "QuantizeLinear" in info["models"]["tiny.onnx"]["operators"]
    assert (
        _build(
            workdir, "d.ecb", "--int8", "--int8-mode", "dynamic", "--compare-runs", "20", "--json"
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["quantization"]["mode"] == "dynamic"
    # Static without calibration data: a clear refusal.
    assert _build(workdir, "x.ecb", "--int8") == 1
    assert "needs --calib" in capsys.readouterr().err


def test_bench_bundle_description_and_bare_onnx(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _build(workdir, "t.ecb") == 0
    capsys.readouterr()
    assert (
        main(
            [
                "bench",
                str(workdir / "t.ecb"),
                "--trust",
                str(workdir / "keys"),
                "--runs",
                "50",
                "--warmup",
                "2",
                "--threads",
                "1",
                "--json",
            ]
        )
        == 0
    )
    r = json.loads(capsys.readouterr().out)
    assert r["runs"] == 50 and r["budget_ms"] == 20 and r["passed"] is True
    for k in (
        "first_inference_ms",
        "p50_ms",
        "p90_ms",
        "p95_ms",
        "p99_ms",
        "p999_ms",
        "min_ms",
        "max_ms",
        "throughput_per_s",
        "cpu_percent",
        "peak_rss_mb",
    ):
        assert r[k] >= 0, k
    assert r["min_ms"] <= r["p50_ms"] <= r["p99_ms"] <= r["max_ms"]
    # A bundle is never loaded unverified.
    assert main(["bench", str(workdir / "t.ecb"), "--runs", "5"]) == 1
    assert "needs --trust" in capsys.readouterr().err
    assert main(["bench", str(workdir / "tiny.onnx"), "--seconds", "0.2", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["runs"] > 10 and r["passed"] is None and r["input_shapes"] == {"x": [1, 4]}
    desc = {
        "name": "tiny",
        "model": "tiny.onnx",
        "inputs": [{"name": "x", "dtype": "float32", "shape": [-1, 4]}],
        "outputs": [{"name": "prob", "dtype": "float32", "shape": [-1, 3]}],
        "preprocess": json.loads(PRE),
        "head": {"type": "classify", "labels": ["a", "b", "c"]},
        "latency_budget_ms": 0.000001,
    }
    (workdir / "model.json").write_text(json.dumps(desc))
    assert main(["bench", str(workdir), "--runs", "20"]) == 0
    assert "FAIL: p95" in capsys.readouterr().out


def test_trust_commands(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = workdir / "store"
    assert (
        main(
            [
                "bundle",
                "trust",
                "import",
                str(store),
                str(workdir / "keys" / "signing.pub"),
                "--label",
                "site-a",
            ]
        )
        == 0
    )
    assert main(["bundle", "trust", "list", str(store), "--json"]) == 0
    out = capsys.readouterr().out
    keys = json.loads(out[out.index("[") :])
    assert keys[0]["label"] == "site-a" and len(keys[0]["fingerprint"]) == 79
    assert main(["bundle", "trust", "remove", str(store), "site-a"]) == 0


def test_sample_bundles_verify_only_with_the_demo_key(
    sample_bundle_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.fixtures.bundles import SAMPLE_TRUST

    for b in sorted(sample_bundle_dir.glob("*.ecb")):
        assert main(["bundle", "verify", str(b), "--trust", str(SAMPLE_TRUST)]) == 0
    assert main(["bundle", "keygen", "--out", str(tmp_path / "site")]) == 0
    capsys.readouterr()
    for b in sorted(sample_bundle_dir.glob("*.ecb")):
        assert main(["bundle", "verify", str(b), "--trust", str(tmp_path / "site")]) == 1
        assert "unknown key" in capsys.readouterr().out


def test_cli_build_and_the_wizard_share_one_rule_book(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``bundle build`` runs the workshop's build (issue 14): the name rule is the
    manifest's for both (a dotted name the manifest takes is no longer refused by the
    window), and a bundle written through either is read back by the verifier."""
    from edgeconsole.session.workshop import BuildRequest, check_request

    req = BuildRequest(
        model=workdir / "tiny.onnx",
        name="tiny.v2",
        version=1,
        preprocess=json.loads(PRE),
        head={"type": "classify", "labels": ["cat", "dog", "bird"]},
        hardware_ids=["laptop"],
        key_file=workdir / "keys" / "signing.key",
        out=workdir / "w.ecb",
    )
    check_request(req)
    args = ["bundle", "build", str(workdir / "tiny.onnx"), "--name", "tiny.v2"]
    args += ["--version", "1", "--head", "classify", "--preprocess", PRE]
    args += ["--labels", str(workdir / "labels.txt")]
    args += ["--hardware-id", "laptop", "--sign", str(workdir / "keys" / "signing.key")]
    assert main([*args, "-o", str(workdir / "sub" / "c.ecb"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == "tiny.v2"
    # Both refuse what the window has always refused: a bundle that is not an .ecb.
    assert main([*args, "-o", str(workdir / "c.tar")]) == 1
    assert "must end in .ecb" in capsys.readouterr().err
    assert not (workdir / "c.tar").exists()
