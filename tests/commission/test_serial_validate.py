"""Validation on the virtual serial device (real pty, SMP app group 65 cmd 7), the
digits bundle flashed with the real flash job, shadowed by local://."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from edgeconsole.commission import ValidationJob, ValidationRequest, write_report
from edgeconsole.commission.metrics import SampleRecord
from edgeconsole.core.errors import ConfigError
from edgeconsole.devices.serial.client import SerialTarget
from edgeconsole.devices.serial.flash import SerialFlashJob
from edgeconsole.session.targets import verified_payload
from edgeconsole.sim.device import VirtualSerialDevice
from tests.commission.helpers import DIGITS_BUNDLE, DIGITS_SET, TRUST, subset
from tests.fixtures.serial import pull_plug

Make = Callable[..., VirtualSerialDevice]


def flash_digits(port: str) -> None:
    payload = verified_payload(DIGITS_BUNDLE, TRUST, hardware_id="mcu-sim", installed_version=None)
    with SerialTarget(port, timeout_s=5.0) as target:
        target.connect()
        result = SerialFlashJob(target, payload, mode="confirm").run()
    assert result.confirmed


def test_serial_run_agrees_with_local_shadow(serial_device: Make, tmp_path: Path) -> None:
    device = serial_device()
    flash_digits(str(device.path))
    data = subset(DIGITS_SET, tmp_path / "d", 2)  # 20 samples
    req = ValidationRequest(
        f"serial://{device.path}",
        DIGITS_BUNDLE,
        data,
        trust_dir=TRUST,
        budget_ms=1000,
        line_rate=120,
    )
    res = ValidationJob(req).run()
    d = res.data
    assert not d["partial"] and d["samples"]["scored"] == 20
    target = d["target"]
    assert target["kind"] == "serial" and target["hw_id"] == "mcu-sim"
    assert target["running"]["bundle_id"] == "digits"
    assert target["running"]["sha256"] == d["bundle"]["bundle_sha256"]
    assert "'transfer'" in target["note"] and "device's own inference time" in target["note"]
    # Same model, same preprocessing on the laptop: the device agrees on every sample.
    assert d["shadow"]["agreement"] == 1.0 and d["shadow"]["disagreements"] == []
    stages = d["latency"]["stages"]
    assert list(stages)[:3] == ["preprocess", "transfer", "infer"]
    for r in res.records:
        # The round trip is split, never double counted: stages add up to end-to-end.
        assert r.stages_ms["transfer"] > 0 and r.stages_ms["infer"] >= 0
        assert sum(r.stages_ms.values()) == pytest.approx(r.e2e_ms, abs=1e-3)
    assert device.server.requests > 20  # every sample went over SMP
    html = write_report(res, tmp_path / "serial.html").html.read_text()
    assert "serial://" in html and "transfer" in html and "mcu-sim" in html


def test_device_running_another_bundle_is_refused_with_the_fix(
    serial_device: Make, tmp_path: Path
) -> None:
    device = serial_device()  # factory image: the vibration anomaly bundle
    data = subset(DIGITS_SET, tmp_path / "d", 1)
    job = ValidationJob(
        ValidationRequest(f"serial://{device.path}", DIGITS_BUNDLE, data, trust_dir=TRUST)
    )
    with pytest.raises(ConfigError, match="runs vibration-anomaly v1") as err:
        job.prepare()
    assert "edgeconsole flash" in str(err.value)


def test_sim_url_is_refused_with_the_way_round(tmp_path: Path) -> None:
    data = subset(DIGITS_SET, tmp_path / "d", 1)
    job = ValidationJob(ValidationRequest("sim://", DIGITS_BUNDLE, data, trust_dir=TRUST))
    with pytest.raises(ConfigError, match="sim serial"):
        job.prepare()


def test_device_process_killed_mid_run_gives_a_partial_report(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "edgeconsole", "sim", "serial", "--data-dir"]
    proc = subprocess.Popen(
        [*cmd, str(tmp_path / "dev"), "--rate", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port = proc.stdout.readline().strip()
        assert os.path.exists(port)
        flash_digits(port)
        data = subset(DIGITS_SET, tmp_path / "d", 2)

        def cut(rec: SampleRecord, done: int, total: int) -> None:
            if done == 7:
                pull_plug(proc, tmp_path / "dev" / "tty")

        req = ValidationRequest(f"serial://{port}", DIGITS_BUNDLE, data, trust_dir=TRUST)
        res = ValidationJob(req, on_sample=cut).run()
    finally:
        pull_plug(proc, tmp_path / "dev" / "tty")
    d = res.data
    assert d["verdict"] == "PARTIAL" and d["partial"]
    assert d["samples"]["run"] == 7 and d["samples"]["total"] == 20
    assert "target failed at sample 8" in d["partial_reason"]
    html = write_report(res, tmp_path / "partial.html").html.read_text()
    assert "PARTIAL RUN" in html
