"""Peer check: the third-party ``smpmgr`` CLI against ``edgeconsole sim serial``.

echo, params (read by smpclient on connect), image upload of an MCUboot image
made by ``imgtool`` (as a Zephyr device needs it), image state read / test /
confirm.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from edgeconsole.sim.device import VirtualSerialDevice

BIN = Path(sys.executable).parent


def smpmgr(port: Path, *args: str) -> str:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    r = subprocess.run(
        [str(BIN / "smpmgr"), "--port", str(port), "--timeout", "5", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout + r.stderr


@pytest.mark.slow
def test_smpmgr_echo_params_upload_state(
    serial_device: Callable[..., VirtualSerialDevice], tmp_path: Path
) -> None:
    dev = serial_device(rate=20.0)  # telemetry on: smpmgr must cope with log lines too
    out = smpmgr(dev.path, "--loglevel", "DEBUG", "os", "echo", "hello peer")
    assert "r='hello peer'" in out
    assert "buf_size=2048" in out  # smpclient read the MCUmgr params on connect

    raw = tmp_path / "fw.bin"
    raw.write_bytes(random.Random(9).randbytes(30_000))
    image = tmp_path / "fw.signed.bin"
    subprocess.run(
        [
            str(BIN / "imgtool"),
            "sign",
            "--header-size",
            "0x200",
            "--pad-header",
            "--align",
            "4",
            "--slot-size",
            "0x200000",
            "--version",
            "1.2.3",
            str(raw),
            str(image),
        ],
        check=True,
        capture_output=True,
    )
    from smpclient.mcuboot import IMAGE_TLV, ImageInfo

    tlv_hash = bytes(ImageInfo.load_file(str(image)).get_tlv(IMAGE_TLV.SHA256).value).hex()

    smpmgr(dev.path, "image", "upload", str(image))
    assert dev.storage.read_payload(1) == image.read_bytes()

    state = smpmgr(dev.path, "image", "state-read")
    assert tlv_hash.upper() in state and "1.2.3" in state

    smpmgr(dev.path, "image", "state-write", tlv_hash)  # mark for test
    assert dev.storage.table.trial == 1
    smpmgr(dev.path, "image", "state-write", "--confirm")
    assert dev.storage.table.confirmed == 1
