"""``bundle build --preprocess`` that is not JSON gets a sentence, not a traceback
(issue 13, "Also found": single quotes printed a Python traceback)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("{'resize': 'stretch', 'size': [8, 8]}", "JSON needs double quotes"),
        ('{"resize": "stretch",', "--preprocess is not JSON"),
        ('["resize"]', "--preprocess must be a JSON object"),
        ("[" * 100_000, "--preprocess is not JSON"),
    ],
)
def test_bad_preprocess_is_a_sentence(tmp_path: Path, text: str, said: str) -> None:
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "edgeconsole",
            "bundle",
            "build",
            str(REPO / "sample_models" / "digits" / "model.onnx"),
            "--name",
            "d",
            "--version",
            "1",
            "--hardware-id",
            "laptop",
            "--sign",
            str(REPO / "sample_models" / "trust" / "DEMO-ONLY-signing.key"),
            "--head",
            "classify",
            "--preprocess",
            text,
            "--out",
            str(tmp_path / "d.ecb"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "EDGECONSOLE_HOME": str(tmp_path / "home")},
    )
    assert r.returncode == 1, r.stderr
    assert said in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "d.ecb").exists()
