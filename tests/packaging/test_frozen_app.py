"""Build the frozen app, unpack its tarball as an ordinary user, run its self-test offscreen.

Takes about 2-3 minutes and both cores (PyInstaller + gzip), so it runs only when asked:

    EDGECONSOLE_TEST_PACKAGING=1 .venv/bin/pytest tests/packaging/test_frozen_app.py -q

Needs PyInstaller in the venv (.venv/bin/pip install 'pyinstaller>=6.10').
"""

from __future__ import annotations

import importlib.util
import json
import os
import pwd
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest

import edgeconsole

REPO = Path(__file__).resolve().parents[2]
ENABLED = os.environ.get("EDGECONSOLE_TEST_PACKAGING") == "1"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(900),
    pytest.mark.skipif(not ENABLED, reason="set EDGECONSOLE_TEST_PACKAGING=1 (builds the app)"),
    pytest.mark.skipif(
        importlib.util.find_spec("PyInstaller") is None, reason="PyInstaller not installed"
    ),
]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("package")
    env = dict(os.environ, DIST=str(out / "dist"), BUILD=str(out / "build"))
    proc = subprocess.run(
        [str(REPO / "packaging" / "build.sh")],
        cwd=REPO,
        env=env,
        timeout=880,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "all checks passed" in proc.stdout  # build.sh runs the frozen self-test itself
    return out / "dist"


def run_as(
    user: str | None, cmd: list[str], env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    if user is not None:
        cmd = [
            "setpriv",
            f"--reuid={user}",
            f"--regid={pwd.getpwnam(user).pw_gid}",
            "--clear-groups",
            *cmd,
        ]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


def test_frozen_app_contents(built: Path) -> None:
    app = built / "edgeconsole"
    internal = app / "_internal"
    assert os.access(app / "edgeconsole", os.X_OK)
    assert sorted(p.name for p in (internal / "sample_models" / "bundles").glob("*.ecb"))
    assert not list((internal / "sample_models").rglob("*.key"))  # never the demo private key
    info = json.loads((internal / "BUILD_INFO.json").read_text())
    assert info["version"] == edgeconsole.__version__
    lics = json.loads((internal / "licences.json").read_text())["licences"]
    assert all(lic["text"].strip() for lic in lics)
    assert not list(internal.rglob("*QtWebEngine*")) and not list(internal.rglob("libqgtk3.so"))
    proc = subprocess.run(
        [str(app / "edgeconsole"), "--version"], capture_output=True, text=True, timeout=60
    )
    assert proc.stdout.strip() == f"edgeconsole {edgeconsole.__version__}"


def test_tarball_unpacks_and_runs_as_a_normal_user(built: Path, tmp_path: Path) -> None:
    [tarball] = built.glob("edgeconsole-*-linux-*.tar.gz")
    with tarfile.open(tarball) as tf:
        names = tf.getnames()
        assert all(not n.startswith(("/", "..")) for n in names)
        top = {n.split("/")[0] for n in names}
        assert top == {tarball.name.removesuffix(".tar.gz")}
    user = None
    if os.geteuid() == 0 and shutil.which("setpriv"):
        # pytest's own temp root is private to root: unpack where nobody can reach.
        user = "nobody"
        tmp_path = Path(tempfile.mkdtemp(prefix="edgeconsole-unpack-", dir="/tmp"))
        os.chmod(tmp_path, 0o777)
        # ... and the tarball with it, as if copied off a USB stick.
        tarball = Path(shutil.copy2(tarball, tmp_path / tarball.name))
        os.chmod(tarball, 0o644)
    home = tmp_path / "home"
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "QT_QPA_PLATFORM": "offscreen",
        "LANG": "C.UTF-8",
    }
    unpack = run_as(
        user, ["sh", "-c", f'mkdir -p "{home}" && tar xzf "{tarball}" -C "{tmp_path}"'], env
    )
    assert unpack.returncode == 0, unpack.stderr
    app = tmp_path / next(iter(top)) / "edgeconsole"
    proc = run_as(user, [str(app), "--self-test"], env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "(frozen app)" in proc.stdout and "all checks passed" in proc.stdout
    # The journal went to the user's own XDG data folder.
    assert (home / ".local" / "share" / "edgeconsole" / "journal" / "audit.db").is_file()
    cli = run_as(user, [str(app), "sim", "--help"], env)
    assert cli.returncode == 0, cli.stderr
    if user is not None:
        shutil.rmtree(tmp_path, ignore_errors=True)


def test_frozen_app_is_silent_and_writes_only_its_own_files(built: Path) -> None:
    """The frozen app (runtime hook, bundled onnxruntime, WeasyPrint and Pango) under the
    same strace witnesses as the source install (tests/security/test_offline.py): a run
    that outlives onnxruntime's telemetry timer, then a commissioning report with its PDF."""
    from tests.security.offline_run import Scratch, Watch

    app = built / "edgeconsole" / "edgeconsole"
    samples = built / "edgeconsole" / "_internal" / "sample_models"
    root = Path(tempfile.mkdtemp(prefix="ecoff-frozen-"))
    watch = Watch(Scratch(root / "s"), root / "strace")
    try:
        bundle, trust = samples / "bundles" / "digits-1.ecb", samples / "trust"
        run_args = ["run", "--source", "synthetic:conveyor?fps=10", "--seconds", "11"]
        watch.run("run", [str(app), *run_args, "--model", str(bundle), "--trust", str(trust)])
        report = watch.scratch.work / "report.html"
        dataset = samples / "datasets" / "digits"
        out, _ = watch.run(
            "validate",
            [
                *(str(app), "validate", "local://", "--bundle", str(bundle), "--trust", str(trust)),
                *("--dataset", str(dataset), "--report", str(report), "--pdf", "--json"),
                *("--budget-ms", "60000", "--min-accuracy", "0", "--min-recall", "0"),
            ],
        )
        assert json.loads(out)["pdf_error"] is None
        named = [report, report.with_suffix(".json"), report.with_suffix(".pdf")]
        verdict = watch.verdict(named)
        assert verdict.commands and verdict.ok, verdict.report()
    finally:
        watch.close()
        shutil.rmtree(root, ignore_errors=True)
