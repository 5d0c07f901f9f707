"""Providers and thread counts side by side: the in-process runtime, a real peer Python
speaking bench_worker's protocol, and the peers that misbehave."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeconsole.cli.main import main
from edgeconsole.core.errors import ConfigError, ModelError
from edgeconsole.inference import bench_worker
from edgeconsole.inference import compare as cmp

REPO = Path(__file__).resolve().parents[2]
DIGITS = REPO / "sample_models" / "digits"
OPENVINO = REPO / ".venv-openvino" / "bin" / "python"


def _digits() -> tuple[bytes, dict[str, np.ndarray]]:
    x = np.load(DIGITS / "golden_input.npy")
    return (DIGITS / "model.onnx").read_bytes(), {"input": x}


def test_plan_puts_this_apps_cpu_first_and_skips_cloud_providers() -> None:
    this = cmp.Runtime(cmp.THIS, None, "1.32.0", ("AzureExecutionProvider", "CPUExecutionProvider"))
    peer = cmp.Runtime(
        "ov", "/x/python", "1.24.1", ("OpenVINOExecutionProvider", "CPUExecutionProvider")
    )
    variants = cmp.plan([peer, this], [1, 2])
    assert [v.name.split(" (")[0] for v in variants[:2]] == ["CPU x1", "CPU x2"]
    assert variants[0].runtime is this
    assert all(v.provider != "AzureExecutionProvider" for v in variants)
    assert len(variants) == 6
    for bad in ([], [0], [1, -2]):
        with pytest.raises(ConfigError):
            cmp.plan([this], bad)


def test_in_process_and_peer_runtime_side_by_side() -> None:
    model, feeds = _digits()
    peer = cmp.probe(sys.executable)  # this venv's Python, as a separate process
    assert peer.python == sys.executable and "CPUExecutionProvider" in peer.providers
    variants = cmp.plan([cmp.this_runtime(), peer], [1, 2])
    seen: list[str] = []
    results = cmp.compare(model, feeds, variants, rounds=3, runs=5, progress=seen.append)
    assert seen[-1] == "round 3/3" and any(s.startswith("loading") for s in seen)
    out = cmp.summary(results)
    assert out["baseline"] == variants[0].name
    rows = {r["name"]: r for r in out["variants"]}
    assert len(rows) == 4
    for row in rows.values():
        assert row["error"] is None and row["runs"] == 15
        assert 0 < row["p50_ms"] <= row["p99_ms"] <= row["max_ms"]
        assert row["providers_used"][0] == "CPUExecutionProvider"
    assert rows[out["baseline"]]["p50_vs_baseline"] == 1.0
    assert out["fastest_p50"] in rows


def test_a_provider_that_fails_to_load_is_reported_not_fatal() -> None:
    model, feeds = _digits()
    this = cmp.this_runtime()
    fake = cmp.Runtime(cmp.THIS, None, this.version, ("NoSuchExecutionProvider",))
    results = cmp.compare(
        model,
        feeds,
        [
            cmp.Variant(this, "CPUExecutionProvider", 1),
            cmp.Variant(fake, "NoSuchExecutionProvider", 1),
        ],
        rounds=2,
        runs=2,
    )
    assert results[0].error is None and len(results[0].samples_ms) == 4
    assert results[1].error is not None and "not available" in results[1].error
    assert cmp.summary(results)["variants"][1]["error"] == results[1].error


def test_peers_that_are_not_runtimes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ModelError, match="cannot start"):
        cmp.probe(tmp_path / "no-such-python")
    garbage = tmp_path / "garbage"
    garbage.write_text("#!/bin/sh\necho 'this is not json'\n")
    garbage.chmod(0o755)
    with pytest.raises(ModelError, match="garbage"):
        cmp.probe(garbage)
    silent = tmp_path / "silent"
    silent.write_text("#!/bin/sh\nexit 0\n")
    silent.chmod(0o755)
    with pytest.raises(ModelError, match="stopped answering"):
        cmp.probe(silent)
    no_ort = tmp_path / "no-ort"  # a Python whose onnxruntime cannot be imported
    no_ort.write_text(f'#!/bin/sh\nexec {sys.executable} -S -I "$@"\n')
    no_ort.chmod(0o755)
    with pytest.raises(ModelError, match="onnxruntime cannot be imported"):
        cmp.probe(no_ort)
    # Last: the short start timeout it needs would cut off a real Python's start-up on a
    # loaded machine (the case above once answered "no answer in 0.5 s" at load 10).
    slow = tmp_path / "slow"
    slow.write_text("#!/bin/sh\nexec sleep 30\n")
    slow.chmod(0o755)
    monkeypatch.setattr(cmp, "_START_TIMEOUT_S", 0.5)
    with pytest.raises(ModelError, match="no answer in"):
        cmp.probe(slow)


def test_worker_answers_bad_requests_and_keeps_serving(tmp_path: Path) -> None:
    model, feeds = _digits()
    (tmp_path / "m.onnx").write_bytes(model)
    np.savez(tmp_path / "f.npz", **feeds)
    requests = [
        "not json",
        json.dumps([1, 2]),
        json.dumps({"op": "run", "n": 3}),  # before any load
        json.dumps(
            {
                "op": "load",
                "model": str(tmp_path / "m.onnx"),
                "feeds": str(tmp_path / "f.npz"),
                "provider": "NoSuch",
                "threads": 1,
            }
        ),
        json.dumps(
            {
                "op": "load",
                "model": str(tmp_path / "missing.onnx"),
                "feeds": str(tmp_path / "f.npz"),
                "provider": "CPUExecutionProvider",
                "threads": 1,
            }
        ),
        json.dumps(
            {
                "op": "load",
                "model": str(tmp_path / "m.onnx"),
                "feeds": str(tmp_path / "f.npz"),
                "provider": "CPUExecutionProvider",
                "threads": 1,
            }
        ),
        json.dumps({"op": "run", "n": 0}),
        json.dumps({"op": "run", "n": 10**9}),
        json.dumps({"op": "run", "n": "x"}),
        json.dumps({"op": "run", "n": 3}),
        json.dumps({"op": "quit"}),
        json.dumps({"op": "run", "n": 3}),  # after quit: never answered
    ]
    out = io.StringIO()
    assert bench_worker.serve(io.StringIO("\n".join(requests) + "\n"), out) == 0
    answers = [json.loads(line) for line in out.getvalue().splitlines()]
    assert answers[0]["ready"] is True
    got = answers[1:]
    assert len(got) == 10
    assert [a["ok"] for a in got] == [False] * 5 + [True] + [False] * 3 + [True]
    assert "JSONDecodeError" in got[0]["error"] and "unknown request" in got[1]["error"]
    assert "no model loaded" in got[2]["error"] and "not available" in got[3]["error"]
    assert len(got[9]["ms"]) == 3 and got[5]["providers"] == ["CPUExecutionProvider"]


def test_cli_bench_compare_json(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no .venv-openvino here: only the runtimes given
    monkeypatch.delenv(cmp.PEERS_ENV, raising=False)
    rc = main(
        [
            "bench",
            str(DIGITS),
            "--compare",
            "--compare-threads",
            "1",
            "--runtime",
            sys.executable,
            "--runtime",
            "/no/such/python",
            "--runs",
            "6",
            "--rounds",
            "2",
            "--json",
        ]
    )
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert {r["runtime"] for r in out["variants"]} == {
        cmp.THIS,
        Path(sys.executable).parent.parent.name,
    }
    assert all(r["runs"] == 6 for r in out["variants"])
    assert out["skipped_runtimes"][0]["python"] == "/no/such/python"
    assert main(["bench", str(DIGITS), "--compare", "--seconds", "1"]) != 0


@pytest.mark.skipif(not OPENVINO.exists(), reason="no .venv-openvino (./run openvino makes it)")
def test_openvino_runtime_is_measured_in_its_own_venv() -> None:
    peer = cmp.probe(OPENVINO)
    assert "OpenVINOExecutionProvider" in peer.providers
    model, feeds = _digits()
    variants = [
        v
        for v in cmp.plan([cmp.this_runtime(), peer], [1])
        if v.runtime is peer or v.provider == "CPUExecutionProvider"
    ]
    results = cmp.compare(model, feeds, variants, rounds=2, runs=3)
    ov = [r for r in results if r.variant.provider == "OpenVINOExecutionProvider"]
    assert ov and ov[0].error is None and ov[0].providers_used[0] == "OpenVINOExecutionProvider"
