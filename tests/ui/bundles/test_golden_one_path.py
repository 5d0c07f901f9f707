"""The window's build wizard and ``edgeconsole bundle build`` sign the same golden check.

The vibration sample's description gives a golden input and a tolerance (0.065, its
anomaly score is that noisy across CPUs). Built both ways from the same model and
description, the two bundles carry the same golden input, output and tolerance (the
wizard once hard-coded 1e-4 and its own synthetic input).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from edgeconsole.bundles.signing import generate_keypair
from edgeconsole.cli.main import main
from edgeconsole.session import workshop as bj

REPO = Path(__file__).resolve().parents[3]
VIBRATION = REPO / "sample_models" / "vibration"


def _golden(bundle: Path, trust: Path) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    vb = bj.open_verified(bundle, trust)
    golden = dict(vb.manifest.golden or {})
    gin = np.load(io.BytesIO(vb.file_bytes(golden["input"])))
    gout = np.load(io.BytesIO(vb.file_bytes(golden["output"])))
    return golden, gin, gout


def test_wizard_and_cli_sign_the_same_golden_pair(
    make_panel: Any, tmp_path: Path, qtbot: Any
) -> None:
    keys = generate_keypair(tmp_path / "keys", "site")
    trust = tmp_path / "trust"
    bj.import_trust_key(trust, keys.public_path)
    described = json.loads((VIBRATION / "model.json").read_text())["golden"]

    cli_out = tmp_path / "cli.ecb"
    code = main(
        [
            "bundle",
            "build",
            str(VIBRATION / "model.onnx"),
            "--name",
            "vibration",
            "--version",
            "1",
            "--hardware-id",
            "laptop",
            "--sign",
            str(keys.private_path),
            "--description",
            str(VIBRATION / "model.json"),
            "--out",
            str(cli_out),
        ]
    )
    assert code == 0

    panel = make_panel()
    wiz_out = tmp_path / "wizard.ecb"
    wiz = panel.open_build_wizard()
    wiz.model_page.path.setText(str(VIBRATION / "model.onnx"))
    assert wiz.validateCurrentPage()
    wiz.next()  # description: prefilled from the model.json beside the model
    assert wiz.describe_page.head.currentText() == "anomaly"
    assert wiz.validateCurrentPage()
    wiz.next()  # INT8: none
    assert wiz.validateCurrentPage()
    wiz.next()
    wiz.sign_page.name.setText("vibration")
    wiz.sign_page.hardware.setText("laptop")
    wiz.sign_page.key.setText(str(keys.private_path))
    wiz.sign_page.out.setText(str(wiz_out))
    assert wiz.validateCurrentPage(), wiz.sign_page.error.text()
    wiz.next()
    assert wiz.build_page.start_build()
    qtbot.waitUntil(lambda: wiz.build_page.outcome is not None, timeout=60_000)
    wiz.close()

    cli_golden, cli_in, cli_gout = _golden(cli_out, trust)
    wiz_golden, wiz_in, wiz_gout = _golden(wiz_out, trust)
    assert cli_golden["tolerance"] == wiz_golden["tolerance"] == described["tolerance"]
    np.testing.assert_array_equal(cli_in, wiz_in)
    np.testing.assert_array_equal(cli_in, np.load(VIBRATION / described["input"]))
    np.testing.assert_array_equal(cli_gout, wiz_gout)


def test_the_rule_floors_fp32_and_int8() -> None:
    assert bj.golden_tolerance({}, {"mode": "none"}) == 1e-4
    assert bj.golden_tolerance({"tolerance": 1e-6}, {"mode": "none"}) == 1e-4
    assert bj.golden_tolerance({"tolerance": 0.05}, {"mode": "none"}) == 0.05
    assert bj.golden_tolerance({"tolerance": 1e-3}, {"mode": "dynamic"}) == 1e-2
    assert bj.golden_tolerance({"tolerance": True}, {"mode": "none"}) == 1e-4
