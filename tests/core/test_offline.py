"""onnxruntime's telemetry is off in every way into EdgeConsole (edgeconsole/core/offline.py).

Each case runs a fresh interpreter with a scratch HOME and without
``ORT_DISABLE_TELEMETRY``: onnxruntime >= 1.29 with telemetry on writes
``~/.cache/Microsoft/DeveloperTools/.onnxruntime/deviceid`` the moment it loads, so
that file's absence is an instant witness (its DNS lookup, ~9 s later, is watched by
tests/security/test_offline*.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import edgeconsole
from edgeconsole.core.offline import ORT_TELEMETRY_VAR
from tests.laptop_env import laptop_env

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "sample_models" / "digits" / "model.onnx"
HOOK = REPO / "packaging" / "rthook_offline.py"
ORT_CACHE = Path(".cache") / "Microsoft" / "DeveloperTools" / ".onnxruntime"

REPORT = (
    "import json, os, sys\n"
    "import onnxruntime as ort\n"
    f"ort.InferenceSession({str(MODEL)!r}, providers=['CPUExecutionProvider'])\n"
    "import edgeconsole\n"
    "state = edgeconsole.TELEMETRY\n"
    "print(json.dumps({'env': os.environ.get('ORT_DISABLE_TELEMETRY'),\n"
    "                  'off': state.off, 'detail': state.detail}))\n"
)


def run(code: str, home: Path, **env: str) -> tuple[dict[str, object], str]:
    base = laptop_env(drop=(ORT_TELEMETRY_VAR, "XDG_CACHE_HOME"))
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env={**base, "HOME": str(home), **env},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=home,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def test_importing_edgeconsole_first_turns_it_off(tmp_path: Path) -> None:
    doc, err = run("import edgeconsole.inference.engine\n" + REPORT, tmp_path)
    assert doc["env"] == "1" and doc["off"] is True, doc
    assert "telemetry" not in err
    assert not (tmp_path / ORT_CACHE).exists()


def test_a_person_saying_0_is_overridden(tmp_path: Path) -> None:
    doc, _ = run("import edgeconsole\n" + REPORT, tmp_path, ORT_DISABLE_TELEMETRY="0")
    assert doc["env"] == "1" and doc["off"] is True
    assert not (tmp_path / ORT_CACHE).exists()


def test_onnxruntime_imported_first_is_detected_and_said(tmp_path: Path) -> None:
    """The library user's mistake cannot be undone: it is named, with what to do."""
    doc, err = run(REPORT, tmp_path)
    assert doc["off"] is False
    assert "RuntimeWarning: EdgeConsole: onnxruntime was imported before edgeconsole" in err
    assert "telemetry is ON in this process" in err and "import edgeconsole before" in err
    assert (tmp_path / ORT_CACHE / "deviceid").exists()  # what the warning is about


def test_onnxruntime_first_but_with_the_variable_is_fine(tmp_path: Path) -> None:
    doc, err = run(REPORT, tmp_path, ORT_DISABLE_TELEMETRY="1")
    assert doc["off"] is True and "onnxruntime loaded first" in str(doc["detail"])
    assert "RuntimeWarning" not in err
    assert not (tmp_path / ORT_CACHE).exists()


def test_frozen_app_runtime_hook_runs_before_any_import(tmp_path: Path) -> None:
    """PyInstaller runs the hook before the app's modules: even an onnxruntime import
    ahead of edgeconsole is then silent."""
    hook = f"import runpy\nrunpy.run_path({str(HOOK)!r})\n"
    doc, err = run(hook + REPORT, tmp_path)
    assert doc["off"] is True and "RuntimeWarning" not in err
    assert not (tmp_path / ORT_CACHE).exists()
    spec = (REPO / "packaging" / "edgeconsole.spec").read_text()
    assert 'runtime_hooks=[str(ROOT / "packaging" / "rthook_offline.py")]' in spec


def test_the_test_suite_itself_runs_with_telemetry_off() -> None:
    assert edgeconsole.TELEMETRY.off, edgeconsole.TELEMETRY.detail
    assert os.environ[ORT_TELEMETRY_VAR] == "1"


@pytest.mark.parametrize("entry", ["-m edgeconsole --version", "-m edgeconsole.cli.main --version"])
def test_every_entry_point_sets_it_for_its_children(tmp_path: Path, entry: str) -> None:
    """The variable reaches what the console starts (the demo's device and agent, the
    agent's health-check child) through the environment."""
    code = (
        "import runpy, subprocess, sys, os\n"
        f"sys.argv = {entry.split()[1:]!r}\n"
        "try:\n"
        f"    runpy.run_module({entry.split()[1]!r}, run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "out = subprocess.run([sys.executable, '-c', 'import os; "
        'print(os.environ.get("ORT_DISABLE_TELEMETRY"))\'], capture_output=True, text=True)\n'
        "import json; print(json.dumps({'child': out.stdout.strip()}))\n"
    )
    doc, _ = run(code, tmp_path)
    assert doc == {"child": "1"}
