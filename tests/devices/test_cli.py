"""The serial CLI commands against ``edgeconsole sim serial`` (real ptys, real bundles)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edgeconsole.cli.main import main
from edgeconsole.sim.device import VirtualSerialDevice

ROOT = Path(__file__).resolve().parents[2]
BUNDLES = ROOT / "sample_models" / "bundles"
TRUST = ROOT / "sample_models" / "trust"

Make = Callable[..., VirtualSerialDevice]


def run(capsys: Any, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_slots_json(serial_device: Make, capsys: Any) -> None:
    dev = serial_device()
    rc, out, _ = run(capsys, "slots", f"serial://{dev.path}?baud=921600", "--json")
    assert rc == 0
    data = json.loads(out)
    assert data["device"]["hw_id"] == "mcu-sim"
    assert [s["state"] for s in data["slots"]] == ["confirmed", "empty"]


@pytest.mark.skipif(not (BUNDLES / "digits-1.ecb").is_file(), reason="sample bundles not built")
def test_flash_trial_confirm_rollback(serial_device: Make, capsys: Any) -> None:
    dev = serial_device()
    p = str(dev.path)
    bundle = str(BUNDLES / "digits-1.ecb")
    rc, out, _ = run(capsys, "flash", p, bundle, "--trial", "--trust-dir", str(TRUST), "--json")
    assert rc == 0
    res = json.loads(out)
    assert res["self_test"]["passed"] and not res["confirmed"]
    trial = res["slots"][res["slot"]]
    assert trial["state"] == "trial" and trial["bundle_id"] == "digits" and trial["running"]
    assert dev.storage.read_payload(res["slot"]) == Path(bundle).read_bytes()

    rc, _, err = run(capsys, "confirm", p)
    assert rc == 0 and "health check passed" in err
    assert dev.storage.table.confirmed == res["slot"]

    rc, out, _ = run(capsys, "rollback", p)
    assert rc == 0 and dev.storage.table.confirmed != res["slot"]


@pytest.mark.skipif(not (BUNDLES / "digits-1.ecb").is_file(), reason="sample bundles not built")
def test_confirm_without_check_warns(serial_device: Make, capsys: Any) -> None:
    dev = serial_device()
    p = str(dev.path)
    rc, *_ = run(
        capsys,
        "flash",
        p,
        str(BUNDLES / "digits-1.ecb"),
        "--trial",
        "--trust-dir",
        str(TRUST),
        "--json",
    )
    assert rc == 0
    rc, _, err = run(capsys, "confirm", p, "--no-check")
    assert rc == 0 and "WITHOUT a health check" in err


def test_flash_refuses_untrusted_bundle(
    serial_device: Make, capsys: Any, bundle_kit: Any, tmp_path: Path
) -> None:
    dev = serial_device()
    bundle = bundle_kit.good(tmp_path / "x.ecb", hardware_ids=["mcu-sim"])
    other_trust = bundle_kit.trust_dir("b")
    rc, _, err = run(capsys, "flash", str(dev.path), str(bundle), "--trust-dir", str(other_trust))
    assert rc == 1 and "error" in err
    assert dev.rx_bytes < 2000  # nothing was uploaded
    assert dev.storage.table.slot(1).state.value == "empty"


def test_flash_wrong_hardware_refused(
    serial_device: Make, capsys: Any, bundle_kit: Any, tmp_path: Path
) -> None:
    dev = serial_device()
    bundle = bundle_kit.good(tmp_path / "x.ecb", hardware_ids=["laptop"])
    rc, _, err = run(
        capsys, "flash", str(dev.path), str(bundle), "--trust-dir", str(bundle_kit.trust_dir("a"))
    )
    assert rc == 1 and "hardware" in err and dev.storage.table.slot(1).state.value == "empty"


def test_flash_failing_health_check_rolls_back(
    serial_device: Make, capsys: Any, bundle_kit: Any, tmp_path: Path
) -> None:
    dev = serial_device()
    # Signed and valid, but with no golden data: the device cannot prove it works.
    bundle = bundle_kit.good(tmp_path / "x.ecb", hardware_ids=["mcu-sim"], version=3)
    rc, _, err = run(
        capsys, "flash", str(dev.path), str(bundle), "--trust-dir", str(bundle_kit.trust_dir("a"))
    )
    assert rc == 1 and "rolled back" in err
    t = dev.storage.table
    assert t.running == t.confirmed == 0
    assert t.slot(1).state.value == "bad"


def test_telemetry_json_from_virtual_device(serial_device: Make, capsys: Any) -> None:
    dev = serial_device(rate=200.0)
    rc, out, _ = run(capsys, "telemetry", str(dev.path), "--seconds", "1.5", "--json")
    assert rc == 0
    data = json.loads(out)
    assert data["smp"] and data["samples"] > 100
    ch = data["channels"]
    assert {"accel_z_g", "temp_c", "score", "infer_ms"} <= set(ch)
    assert 0.8 < ch["accel_z_g"]["mean"] < 1.2  # gravity on z
    assert data["dropped_lines"] == 0


def test_port_busy_error_names_holder(serial_device: Make, capsys: Any) -> None:
    dev = serial_device()
    import serial

    holder = serial.Serial(str(dev.path), exclusive=True)
    try:
        rc, _, err = run(capsys, "slots", str(dev.path))
    finally:
        holder.close()
    assert rc == 1 and "already open" in err and "close that program" in err


def test_sim_serial_prints_path_first(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edgeconsole",
            "sim",
            "serial",
            "--data-dir",
            str(tmp_path / "d"),
            "--rate",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        assert first == str(tmp_path / "d" / "tty") and os.path.exists(first)
        assert main(["slots", first, "--json"]) == 0
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.returncode == 0
