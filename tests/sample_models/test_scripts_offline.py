"""The sample-model scripts a developer runs by hand keep onnxruntime's telemetry off
too (they may load onnxruntime before, or without, edgeconsole): started with a
scratch HOME and no ORT_DISABLE_TELEMETRY, none leaves onnxruntime's device id under
~/.cache/Microsoft or makes edgeconsole warn that telemetry is on."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.laptop_env import laptop_env

REPO = Path(__file__).resolve().parents[2]
#: Scripts that load onnxruntime as they are imported (any new one is checked too).
SCRIPTS = sorted(
    p
    for p in (REPO / "sample_models").glob("**/build*.py")
    if re.search(r"^(import onnxruntime|from onnxruntime)", p.read_text(), re.M)
)


def run_fresh(code: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = laptop_env()
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"), TMPDIR=str(home))
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "telemetry is ON" not in proc.stderr
    assert not (home / ".cache" / "Microsoft").exists(), sorted(home.rglob("*"))
    return proc


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(REPO)))
def test_script_imports_keep_onnxruntime_quiet(script: Path, tmp_path: Path) -> None:
    run_fresh(
        "import runpy, sys\n"
        f"sys.argv = [{str(script)!r}, '--help']\n"
        "try:\n"
        f"    runpy.run_path({str(script)!r}, run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n",
        tmp_path,
    )


def test_there_are_such_scripts() -> None:
    assert {p.parent.name for p in SCRIPTS} >= {"label_inspector", "label_orientation"}


@pytest.mark.slow  # digits/build.py imports scikit-learn (several seconds on a busy machine)
def test_digits_script_loads_onnxruntime_quietly(tmp_path: Path) -> None:
    """digits/build.py loads onnxruntime only when it checks the model it built."""
    script = REPO / "sample_models" / "digits" / "build.py"
    model = REPO / "sample_models" / "digits" / "model.onnx"
    proc = run_fresh(
        "import runpy, numpy as np\n"
        f"ns = runpy.run_path({str(script)!r})\n"
        f"out = ns['run_onnx'](open({str(model)!r}, 'rb').read(), np.zeros((1, 64), np.float32))\n"
        "print(out.shape)\n",
        tmp_path,
    )
    assert proc.stdout.strip() == "(1, 10)"
