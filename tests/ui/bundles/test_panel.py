"""The Bundles panel in a real (offscreen) Qt window, on real bundles, real keys
and real onnxruntime."""

from __future__ import annotations

import stat
import tarfile
from pathlib import Path
from typing import Any

import onnxruntime as ort
import pytest

from edgeconsole.bundles.signing import generate_keypair
from edgeconsole.session import workshop as bj
from tests.ui.bundles.conftest import DEMO_PUB, REPO

SAMPLE_NAMES = {
    "digits-1.ecb",
    "label-inspector-1.ecb",
    "label-orientation-1.ecb",
    "vibration-anomaly-1.ecb",
}


def _statuses(panel: Any) -> dict[str, str]:
    return {r.path.name: r.status for r in panel.rows()}


def _flip_payload_byte(path: Path, member: str) -> None:
    with tarfile.open(path) as tar:
        offset = tar.getmember(member).offset_data
    with open(path, "r+b") as f:
        f.seek(offset + 100)
        b = f.read(1)
        f.seek(offset + 100)
        f.write(bytes([b[0] ^ 0xFF]))


def test_without_demo_key_samples_are_unknown_signer(make_panel: Any) -> None:
    panel = make_panel()
    assert set(_statuses(panel)) == SAMPLE_NAMES
    assert set(_statuses(panel).values()) == {bj.UNKNOWN_SIGNER}
    row = panel.row_for("digits-1.ecb")
    assert row.name == "digits" and row.version == 1
    assert "import the signer's public key" in row.reason
    # Nothing unverified may be run.
    panel.select(row.path)
    assert not panel.bench_button.isEnabled()
    assert "Only verified bundles" in panel.bench_button.toolTip()


def test_importing_demo_key_verifies_samples_and_remove_undoes_it(
    make_panel: Any, tmp_path: Path, qtbot: Any
) -> None:
    panel = make_panel()
    trust = tmp_path / "trust"
    assert stat.S_IMODE(trust.stat().st_mode) == 0o700
    key = panel.trust_view.import_key_file(DEMO_PUB)
    assert key is not None and key.demo
    qtbot.waitUntil(lambda: set(_statuses(panel).values()) == {bj.VERIFIED}, timeout=20_000)
    item = panel.trust_view.tree.topLevelItem(0)
    assert "[DEMO ONLY]" in item.text(0)
    assert item.text(1) == key.fingerprint
    row = panel.row_for("label-inspector-1.ecb")
    assert row.signer == "DEMO-ONLY-signing"
    assert row.hardware_ids == ("laptop", "gateway-x86_64")
    assert panel.model.text(row, 5).endswith("MB")  # size shown for people

    assert panel.trust_view.remove(key.key_id)
    assert list(trust.glob("*.pub")) == []
    qtbot.waitUntil(lambda: set(_statuses(panel).values()) == {bj.UNKNOWN_SIGNER}, timeout=20_000)


def test_importing_a_bad_key_says_why_and_changes_nothing(make_panel: Any, tmp_path: Path) -> None:
    panel = make_panel()
    bad = tmp_path / "garbage.pub"
    bad.write_bytes(b"-----BEGIN PUBLIC KEY-----\nnot a key\n")
    shown: list[str] = []
    panel.trust_view.error.connect(shown.append)
    assert panel.trust_view.import_key_file(bad) is None
    assert shown and "not a PEM public key" in shown[0]
    assert panel.messages.isVisible() and "not a PEM public key" in panel.messages.text.text()
    assert list((tmp_path / "trust").glob("*.pub")) == []
    # The same key twice is refused too.
    assert panel.trust_view.import_key_file(DEMO_PUB) is not None
    assert panel.trust_view.import_key_file(DEMO_PUB) is None
    assert "already trusted" in shown[-1]


def test_tampered_bundle_shows_its_reason(make_panel: Any, library: Path) -> None:
    _flip_payload_byte(library / "digits-1.ecb", "model.onnx")
    panel = make_panel((DEMO_PUB,))
    st = _statuses(panel)
    assert st["digits-1.ecb"] == bj.TAMPERED
    assert st["vibration-anomaly-1.ecb"] == bj.VERIFIED
    row = panel.row_for("digits-1.ecb")
    assert "model.onnx" in row.reason and "does not match its signed" in row.reason
    assert row.name == "digits"  # still identified, for the person to find the source
    panel.select(row.path)
    assert "tampered" in panel.detail.text() and "does not match" in panel.detail.text()
    assert not panel.bench_button.isEnabled()


def test_tampered_bundle_from_unknown_signer_still_says_tampered(
    make_panel: Any, library: Path
) -> None:
    _flip_payload_byte(library / "vibration-anomaly-1.ecb", "model.onnx")
    panel = make_panel()
    assert _statuses(panel)["vibration-anomaly-1.ecb"] == bj.TAMPERED
    assert _statuses(panel)["digits-1.ecb"] == bj.UNKNOWN_SIGNER


def test_non_bundle_and_truncated_files_are_listed_as_refused(
    make_panel: Any, library: Path
) -> None:
    (library / "junk.ecb").write_bytes(b"\x00garbage" * 100)
    data = (library / "digits-1.ecb").read_bytes()
    (library / "cut-1.ecb").write_bytes(data[: len(data) // 2])
    panel = make_panel((DEMO_PUB,))
    st = _statuses(panel)
    assert st["junk.ecb"] == bj.REFUSED
    assert st["cut-1.ecb"] == bj.REFUSED
    assert "truncated" in panel.row_for("cut-1.ecb").reason
    assert st["digits-1.ecb"] == bj.VERIFIED


def test_inspect_shows_the_real_inputs(make_panel: Any, qtbot: Any) -> None:
    panel = make_panel((DEMO_PUB,))
    panel.select(panel.row_for("digits-1.ecb").path)
    qtbot.waitUntil(lambda: panel.inspect_view.info is not None, timeout=20_000)
    sess = ort.InferenceSession(
        str(REPO / "sample_models" / "digits" / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    real = sess.get_inputs()[0]
    texts = panel.inspect_view.texts()
    assert f"{real.name}: float32 [N, {real.shape[1]}]" in texts
    assert "ai.onnx 17" in texts and "Gemm" in texts and "2,410" in texts
    assert "verified · key e9bd212d5910f26fd0dd20db77fd33eb" in texts
    assert "trusted" in panel.inspect_view.heading.text()


def test_bench_shows_results_and_histogram(make_panel: Any, qtbot: Any) -> None:
    panel = make_panel((DEMO_PUB,))
    panel.select(panel.row_for("digits-1.ecb").path)
    panel.runs.setValue(300)
    assert panel.start_bench()
    qtbot.waitUntil(lambda: panel.bench_view.result is not None, timeout=30_000)
    rows = panel.bench_view.rows()
    for k in (
        "First inference",
        "p50",
        "p90",
        "p95",
        "p99",
        "p99.9",
        "min",
        "max",
        "Throughput",
        "CPU",
        "Peak memory",
    ):
        assert rows[k]
    r = panel.bench_view.result
    assert r.runs == 300 and r.budget_ms == 5.0
    assert rows["Result"] == r.verdict and r.verdict.startswith(("PASS", "FAIL"))
    assert panel.bench_view.bars is not None
    assert panel.bench_view.budget_line is not None
    assert float(panel.bench_view.p95_line.value()) == pytest.approx(r.p95_ms)
    # Enabled again when the runner's "finished" (queued after the result) arrives.
    qtbot.waitUntil(panel.bench_button.isEnabled, timeout=20_000)


def test_bench_cancel(make_panel: Any, qtbot: Any) -> None:
    panel = make_panel((DEMO_PUB,))
    panel.select(panel.row_for("digits-1.ecb").path)
    panel.runs.setValue(1_000_000)
    seen: list[str] = []
    panel.bench_runner.progressed.connect(lambda f, t: seen.append(t))
    cancelled: list[bool] = []
    panel.bench_runner.cancelled.connect(lambda: cancelled.append(True))
    assert panel.start_bench()
    qtbot.waitUntil(lambda: any(t.startswith("timing") for t in seen), timeout=20_000)
    panel.bench_strip.cancel_button.click()
    qtbot.waitUntil(lambda: not panel.bench_runner.running and bool(cancelled), timeout=20_000)
    assert panel.bench_view.result is None
    assert "cancelled" in panel.bench_view.verdict.text()
    # Enabled again once the runner's "finished" reaches the window (it is queued after
    # "cancelled"; the runner reports "not running" before it is sent).
    qtbot.waitUntil(panel.bench_button.isEnabled, timeout=20_000)


def test_library_folder_is_remembered(make_panel: Any, settings: Any, tmp_path: Path) -> None:
    from edgeconsole.ui.bundles.panel import LIBRARY_KEY

    panel = make_panel()
    other = tmp_path / "empty"
    other.mkdir()
    panel.set_library_dir(other)
    assert settings.value(LIBRARY_KEY) == str(other)


def _drive_wizard(panel: Any, tmp_path: Path, out: Path, int8: str | None = None) -> Any:
    keys = generate_keypair(tmp_path / "keys", "site")
    wiz = panel.open_build_wizard()
    wiz.model_page.path.setText(str(REPO / "sample_models" / "digits" / "model.onnx"))
    assert wiz.model_page.isComplete()
    assert wiz.validateCurrentPage()
    wiz.next()  # description: prefilled from the model.json beside the file
    assert wiz.describe_page.head.currentText() == "classify"
    assert wiz.describe_page.resize_mode.currentText() == "stretch"
    assert wiz.validateCurrentPage()
    wiz.next()  # INT8
    if int8 == "dynamic":
        wiz.int8_page.dynamic.setChecked(True)
    assert wiz.validateCurrentPage()
    wiz.next()  # sign and save
    wiz.sign_page.version.setValue(3)
    wiz.sign_page.name.setText("digits-site")
    wiz.sign_page.hardware.setText("laptop, mcu-sim")
    wiz.sign_page.key.setText(str(keys.private_path))
    wiz.sign_page.out.setText(str(out))
    assert wiz.validateCurrentPage(), wiz.sign_page.error.text()
    wiz.next()
    return wiz, keys


def test_wizard_builds_a_bundle_that_verifies(
    make_panel: Any, tmp_path: Path, library: Path, qtbot: Any
) -> None:
    panel = make_panel((DEMO_PUB,))
    out = library / "digits-site-3.ecb"
    wiz, keys = _drive_wizard(panel, tmp_path, out)
    built: list[Path] = []
    panel.bundle_built.connect(built.append)
    assert wiz.build_page.start_build()
    qtbot.waitUntil(lambda: wiz.build_page.outcome is not None, timeout=60_000)
    assert built == [out]
    outcome = wiz.build_page.outcome
    assert outcome.quantization == {"mode": "none"} and not outcome.app_trusts_signer
    assert "Wrote" in wiz.build_page.result.text()
    # Complete once the runner is done too (its "finished" is queued after the outcome).
    qtbot.waitUntil(wiz.build_page.isComplete, timeout=20_000)
    # The panel rescans: the new bundle is intact but its signer is not trusted yet.
    qtbot.waitUntil(lambda: panel.row_for(out.name) is not None, timeout=20_000)
    assert panel.row_for(out.name).status == bj.UNKNOWN_SIGNER
    panel.trust_view.import_key_file(keys.public_path)
    qtbot.waitUntil(
        lambda: (
            panel.row_for(out.name) is not None and panel.row_for(out.name).status == bj.VERIFIED
        ),
        timeout=20_000,
    )
    row = panel.row_for(out.name)
    assert (row.name, row.version, row.hardware_ids) == ("digits-site", 3, ("laptop", "mcu-sim"))
    vb = bj.open_verified(out, tmp_path / "trust")
    assert vb.description.head.labels[:3] == ("0", "1", "2")
    wiz.close()


def test_wizard_int8_comparison_and_build(make_panel: Any, tmp_path: Path, qtbot: Any) -> None:
    panel = make_panel((DEMO_PUB,))
    out = tmp_path / "digits-int8-3.ecb"
    keys = generate_keypair(tmp_path / "keys2", "site")
    wiz = panel.open_build_wizard()
    wiz.model_page.path.setText(str(REPO / "sample_models" / "digits" / "model.onnx"))
    wiz.next()
    wiz.next()
    wiz.int8_page.dynamic.setChecked(True)
    assert wiz.int8_page.start_compare()
    qtbot.waitUntil(lambda: wiz.int8_page.comparison is not None, timeout=120_000)
    table = wiz.int8_page.table
    assert [table.item(r, 0).text() for r in range(table.rowCount())] == ["fp32", "int8-dynamic"]
    assert table.item(1, 4).text().startswith("top-1")
    assert "Recommendation" in wiz.int8_page.recommendation.text()
    wiz.next()
    wiz.sign_page.key.setText(str(keys.private_path))
    wiz.sign_page.out.setText(str(out))
    wiz.next()
    assert wiz.build_page.start_build()
    qtbot.waitUntil(lambda: wiz.build_page.outcome is not None, timeout=120_000)
    assert wiz.build_page.outcome.quantization["mode"] == "dynamic"
    from edgeconsole.bundles.reader import read_bundle
    from edgeconsole.bundles.signing import load_public_key
    from edgeconsole.bundles.trust import TrustStore

    vb = read_bundle(
        out,
        TrustStore.from_keys([load_public_key(keys.public_path)]),
        describe=bj.describe_manifest,
    )
    assert vb.trusted and vb.manifest.quantization["mode"] == "dynamic"
    wiz.close()


def test_wizard_build_cancel_writes_nothing(
    make_panel: Any, tmp_path: Path, qtbot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from edgeconsole.ui.bundles import wizard as wizard_module

    panel = make_panel((DEMO_PUB,))
    out = tmp_path / "cancelled-1.ecb"
    wiz, _ = _drive_wizard(panel, tmp_path, out)
    page = wiz.build_page
    # Hold the real build until Cancel was pressed, so a fast build cannot win the race;
    # it must then stop at its first safe point.
    pressed = threading.Event()
    real_build = wizard_module.bj.build

    def held_build(*args: Any, **kwargs: Any) -> Any:
        assert pressed.wait(30)
        return real_build(*args, **kwargs)

    monkeypatch.setattr(wizard_module.bj, "build", held_build)
    assert page.start_build()
    wiz.runner.cancel()
    pressed.set()
    qtbot.waitUntil(lambda: not wiz.runner.running and page.error_text != "", timeout=60_000)
    assert page.error_text == "cancelled" and page.outcome is None
    assert not out.exists()
    assert not list(tmp_path.glob(".cancelled-1.ecb.*"))
    wiz.close()


def test_wizard_errors_in_plain_words(make_panel: Any, tmp_path: Path, qtbot: Any) -> None:
    panel = make_panel((DEMO_PUB,))
    wiz = panel.open_build_wizard()
    not_onnx = tmp_path / "model.onnx"
    not_onnx.write_bytes(b"this is not a model")
    wiz.model_page.path.setText(str(not_onnx))
    assert not wiz.model_page.isComplete()
    assert wiz.model_page.error.isVisibleTo(wiz) and "ONNX" in wiz.model_page.error.text()

    wiz.model_page.path.setText(str(REPO / "sample_models" / "digits" / "model.onnx"))
    wiz.next()
    wiz.describe_page.mean.setText("zero")
    assert not wiz.validateCurrentPage()
    assert "mean must be numbers" in wiz.describe_page.error.text()
    wiz.describe_page.mean.setText("0")
    wiz.describe_page.head.setCurrentText("detect")
    wiz.describe_page.threshold.setText("0.5")
    wiz.describe_page._extra_head = {}
    assert wiz.validateCurrentPage()
    wiz.describe_page.head.setCurrentText("classify")
    wiz.next()
    wiz.next()
    bad_key = tmp_path / "bad.key"
    bad_key.write_bytes(b"not a key")
    wiz.sign_page.key.setText(str(bad_key))
    wiz.sign_page.out.setText(str(tmp_path / "x-1.ecb"))
    assert wiz.validateCurrentPage()
    wiz.next()
    assert wiz.build_page.start_build()
    qtbot.waitUntil(lambda: wiz.build_page.error_text != "", timeout=30_000)
    assert "not a PEM private key" in wiz.build_page.error_text
    assert "Not built" in wiz.build_page.result.text()
    assert not (tmp_path / "x-1.ecb").exists()
    wiz.close()
