"""``edgeconsole --self-test`` from the source tree: passes when all is well, says what failed."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from edgeconsole import selftest

REPO = Path(__file__).resolve().parents[2]
BUNDLES = REPO / "sample_models" / "bundles"


def run_selftest(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, EDGECONSOLE_HOME=str(home), QT_QPA_PLATFORM="offscreen")
    return subprocess.run(
        [sys.executable, "-m", "edgeconsole", "--self-test", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=REPO,
    )


@pytest.mark.slow
def test_full_self_test_passes_and_journals_its_outcome(tmp_path: Path) -> None:
    proc = run_selftest("--json", home=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout.strip().splitlines()[-1])
    assert doc["ok"] and not doc["frozen"]
    assert [c["name"] for c in doc["checks"]] == [
        "bundle",
        "pipeline",
        "journal",
        "serial",
        "offline",
        "pdf",
        "plc",
        "about",
        "window",
    ]
    assert "20 frames" in doc["checks"][1]["detail"]
    conn = sqlite3.connect(tmp_path / "journal" / "audit.db")
    msgs = [r[0] for r in conn.execute("SELECT message FROM events WHERE kind='selftest'")]
    conn.close()
    assert msgs[-1] == "self-test passed" and len(msgs) == 2


def test_tampered_bundle_fails_with_the_reason(tmp_path: Path) -> None:
    bad = tmp_path / "digits-1.ecb"
    data = bytearray((BUNDLES / "digits-1.ecb").read_bytes())
    data[-2000] ^= 0x01  # one bit inside the payload
    bad.write_bytes(bytes(data))
    proc = run_selftest("--bundle", str(bad), "--only", "bundle", "pipeline", home=tmp_path)
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert any(line.startswith("FAIL bundle") for line in lines), proc.stdout
    assert any(line.startswith("FAIL pipeline") and "no verified bundle" in line for line in lines)
    assert "2 of 2 checks failed" in proc.stdout


def test_untrusted_signer_fails(tmp_path: Path) -> None:
    trust = tmp_path / "trust"
    trust.mkdir()
    # A trust store that holds some other key: the demo signature must not count.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    pub = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    (trust / "other.pub").write_bytes(pub)
    proc = run_selftest(
        "--bundle",
        str(BUNDLES / "digits-1.ecb"),
        "--trust",
        str(trust),
        "--only",
        "bundle",
        home=tmp_path,
    )
    assert proc.returncode == 1
    assert proc.stdout.splitlines()[1].startswith("FAIL bundle")


def test_unwritable_journal_fails_the_journal_check(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        home = tmp_path / "not-a-dir"
        home.write_text("a file where the app data folder should be")
    else:
        home = tmp_path / "ro"
        home.mkdir(mode=0o500)
    proc = run_selftest("--only", "journal", home=home)
    assert proc.returncode == 1
    assert "FAIL journal" in proc.stdout


def test_pipeline_runs_the_requested_frames_in_process(tmp_path: Path) -> None:
    ctx = selftest.SelfTestContext(
        bundle_path=BUNDLES / "digits-1.ecb", trust_dir=REPO / "sample_models" / "trust", frames=5
    )
    results = selftest.run_checks(ctx, ["bundle", "pipeline"])
    assert [r.ok for r in results] == [True, True], [r.detail for r in results]
    assert results[1].detail.startswith("5 frames")


def test_missing_sample_bundles_are_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(REPO / "sample_models" / "trust", tmp_path / "trust")
    (tmp_path / "bundles").mkdir()
    monkeypatch.setattr(selftest, "sample_models_dir", lambda: tmp_path)
    ctx = selftest.SelfTestContext(bundle_path=None, trust_dir=tmp_path / "trust", frames=1)
    [res] = selftest.run_checks(ctx, ["bundle"])
    assert not res.ok and "no sample bundle" in res.detail


def test_bad_arguments() -> None:
    assert selftest.main(["--frames", "0"]) == 2
    assert selftest.main(["--only", "nonsense"]) == 2
