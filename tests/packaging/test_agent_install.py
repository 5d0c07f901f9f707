"""The gateway agent installs without Qt (issue 14): ``pip install 'edgeconsole[agent]'``
into a fresh venv, offline, then the agent from that venv answers real HTTP.

The wheels come from ``.wheels-agent`` (``./run setup`` collects the base dependencies
and the agent extra at the tested venv's versions); EdgeConsole itself is built into a
wheel from a copy of this source tree. Nothing is fetched: ``--no-index`` and
``--isolated`` (no pip.conf, no PIP_* variables).
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WHEELS = REPO / ".wheels-agent"
QT_MODULES = ("PySide6", "shiboken6", "pyqtgraph")

pytestmark = pytest.mark.slow


def _run(
    cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=cwd, env=env)
    assert done.returncode == 0, f"{cmd[:4]} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return done


def _build_wheel(tmp: Path) -> Path:
    """EdgeConsole's own wheel, built from a copy of the tree (the checkout stays clean)."""
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (REPO / name).exists():
            shutil.copy2(REPO / name, src / name)
    shutil.copytree(
        REPO / "edgeconsole", src / "edgeconsole", ignore=shutil.ignore_patterns("__pycache__")
    )
    dist = tmp / "dist"
    pip = [sys.executable, "-m", "pip", "--isolated", "--disable-pip-version-check"]
    _run([*pip, "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(dist), str(src)])
    (wheel,) = dist.glob("edgeconsole-*.whl")
    return wheel


def _get(port: int, path: str, token: str) -> tuple[int, dict[str, object]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    return resp.status, (json.loads(body) if body else {})


def test_the_agent_installs_from_its_extra_without_qt_and_serves(tmp_path: Path) -> None:
    if not (WHEELS / ".installed").is_file():
        pytest.skip(f"no {WHEELS.name}/ (./run setup collects the agent's wheels)")
    wheel = _build_wheel(tmp_path)
    venv = tmp_path / "gateway-venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    py = venv / "bin" / "python"
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--isolated",
            "--disable-pip-version-check",
            "--python",
            str(py),
            "install",
            "-q",
            "--no-index",
            "--no-compile",
            "--find-links",
            str(WHEELS),
            "--find-links",
            str(wheel.parent),
            "edgeconsole[agent]",
        ]
    )
    # Run from a folder that is not the checkout: only the venv's edgeconsole is found.
    work = tmp_path / "gw"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["ORT_DISABLE_TELEMETRY"] = "1"
    probe = _run(
        [
            str(py),
            "-c",
            "import importlib.util, edgeconsole; print(edgeconsole.__file__); "
            f"print([m for m in {QT_MODULES!r} if importlib.util.find_spec(m)])",
        ],
        cwd=work,
        env=env,
    )
    where, found = probe.stdout.splitlines()
    assert Path(where).is_relative_to(venv), where
    assert found == "[]", f"Qt is installed in the agent's venv: {found}"

    # Asked for the window, the agent's install says what to install instead.
    window = subprocess.run(
        [str(venv / "bin" / "edgeconsole")], capture_output=True, text=True, cwd=work, env=env
    )
    assert window.returncode == 2 and "edgeconsole[console]" in window.stderr, window.stderr

    token = "gateway-install-test-token-0123456789"
    (work / "token").write_text(token)
    (work / "trust").mkdir()
    proc = subprocess.Popen(
        [
            str(venv / "bin" / "edgeconsole"),
            "agent",
            "--data-dir",
            str(work / "data"),
            "--trust-dir",
            str(work / "trust"),
            "--token-file",
            str(work / "token"),
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=work,
        env=env,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        line = proc.stdout.readline()  # the agent prints where it listens, once ready
        assert line, f"the agent did not start: {proc.stderr.read()[-2000:]}"
        port = int(json.loads(line)["url"].rsplit(":", 1)[1])
        status, body = _get(port, "/v2/health/ready", token)
        assert status == 200, body
        status, meta = _get(port, "/v2", token)
        assert status == 200 and meta.get("name"), meta
        assert proc.poll() is None
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
