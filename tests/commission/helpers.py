"""Small datasets for the commissioning tests, copied from the committed sample sets."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DATASETS = REPO / "sample_models" / "datasets"
DIGITS_SET = DATASETS / "digits"
LABEL_SET = DATASETS / "label_inspector"
DIGITS_BUNDLE = REPO / "sample_models" / "bundles" / "digits-1.ecb"
LABEL_BUNDLE = REPO / "sample_models" / "bundles" / "label-inspector-1.ecb"
DIGITS_MODEL = REPO / "sample_models" / "digits"
LABEL_MODEL = REPO / "sample_models" / "label_inspector"
TRUST = REPO / "sample_models" / "trust"


def subset(src: Path, dest: Path, per_class: int) -> Path:
    """The first ``per_class`` images of each class folder (and dataset.json)."""
    dest.mkdir(parents=True, exist_ok=True)
    for sub in sorted(p for p in src.iterdir() if p.is_dir()):
        (dest / sub.name).mkdir()
        for f in sorted(sub.iterdir())[:per_class]:
            shutil.copyfile(f, dest / sub.name / f.name)
    if (src / "dataset.json").is_file():
        shutil.copyfile(src / "dataset.json", dest / "dataset.json")
    return dest


def assert_passes_but_for_timing(d: dict[str, Any]) -> None:
    """A line report that passes on everything but speed, whatever this machine's load:
    accuracy, missed, extra and completeness criteria pass; each timed criterion
    passes exactly when the measured p99 is within its limit; the verdict is PASS
    exactly when every criterion passed."""
    p99 = d["latency"]["e2e"]["p99"]
    ppm = d["thresholds"].get("line_rate_per_min")
    interval = 60000.0 / ppm if ppm else None
    for c in d["criteria"]:
        if c["name"] == "decision p99 vs budget":
            assert c["passed"] is (p99 <= d["thresholds"]["budget_ms"]), c
        elif c["name"].startswith("line rate"):
            limits = [v for v in (interval, d["thresholds"]["budget_ms"]) if v is not None]
            assert c["passed"] is (p99 <= min(limits)), c
        else:
            assert c["passed"], c
    assert (d["verdict"] == "PASS") is all(c["passed"] for c in d["criteria"]), d["verdict"]


def mcu_fast_bundle(tmp_path: Path) -> Path:
    """The fast (label orientation) bundle built for the virtual serial device, its budget
    relaxed: the device's own health check must not fail on a loaded test machine."""
    from edgeconsole.cli.main import main as cli_main

    folder = tmp_path / "label_orientation"
    shutil.copytree(REPO / "sample_models" / "label_orientation", folder)
    desc = json.loads((folder / "model.json").read_text())
    desc["latency_budget_ms"] = 1000
    (folder / "model.json").write_text(json.dumps(desc))
    bundle = tmp_path / "label-orientation-mcu.ecb"
    assert cli_main([
        "bundle", "build", str(folder / "cls.onnx"), "--name", "label-orientation",
        "--version", "1", "--description", str(folder / "model.json"),
        "--sign", str(TRUST / "DEMO-ONLY-signing.key"), "--hardware-id", "mcu-sim",
        "-o", str(bundle),
    ]) == 0  # fmt: skip
    return bundle


def flash_confirmed(port: Path, bundle: Path) -> None:
    """Flash ``bundle`` onto the virtual serial device at ``port`` and confirm it."""
    from edgeconsole.devices.serial.client import SerialTarget
    from edgeconsole.devices.serial.flash import SerialFlashJob
    from edgeconsole.session.targets import verified_payload

    payload = verified_payload(bundle, TRUST, hardware_id="mcu-sim", installed_version=None)
    with SerialTarget(str(port), timeout_s=5.0) as target:
        target.connect()
        assert SerialFlashJob(target, payload, mode="confirm").run().confirmed
