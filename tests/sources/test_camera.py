from __future__ import annotations

import struct
from pathlib import Path

import pytest

from edgeconsole.core.errors import ConfigError, SourceOpenError
from edgeconsole.sources.camera import CameraSource, list_cameras, parse_querycap


def test_index_99_names_index_and_devices_present(tmp_path: Path) -> None:
    (tmp_path / "video0").write_bytes(b"")
    (tmp_path / "video2").write_bytes(b"")
    with pytest.raises(SourceOpenError) as e:
        CameraSource(99, dev_dir=tmp_path).open()
    msg = str(e.value)
    assert "index 99" in msg and "video0" in msg and "video2" in msg


def test_index_99_on_this_machine() -> None:
    with pytest.raises(SourceOpenError) as e:
        CameraSource(99).open()
    assert "99" in str(e.value) and "video devices present" in str(e.value)


def test_node_that_is_not_a_camera(tmp_path: Path) -> None:
    # /dev/video5 exists here but OpenCV opens index 5 on the real /dev, which
    # has no such camera: a clear error either way.
    (tmp_path / "video5").write_bytes(b"")
    with pytest.raises(SourceOpenError) as e:
        CameraSource(5, dev_dir=tmp_path).open()
    assert "index 5" in str(e.value)


def test_bad_arguments() -> None:
    with pytest.raises(ConfigError):
        CameraSource(-1)
    with pytest.raises(ConfigError):
        CameraSource(0, width=0)
    with pytest.raises(ConfigError):
        CameraSource(0, fps=-5)


def test_list_cameras_probes_without_holding(tmp_path: Path) -> None:
    (tmp_path / "video1").write_bytes(b"")
    (tmp_path / "video0").write_bytes(b"")
    (tmp_path / "videoX").write_bytes(b"")
    sysdir = tmp_path / "sys"
    (sysdir / "video0").mkdir(parents=True)
    (sysdir / "video0" / "name").write_text("Test Cam\n")
    cams = list_cameras(dev_dir=tmp_path, sys_dir=sysdir)
    assert [c["index"] for c in cams] == [0, 1]
    assert cams[0]["name"] == "Test Cam" and cams[1]["name"] is None
    assert all(c["capture"] is None and c["error"] == "not a V4L2 device" for c in cams)
    assert isinstance(list_cameras(), list)  # the real /dev (may hold no cameras)


def test_parse_querycap() -> None:
    raw = struct.pack(
        "=16s32s32sIII12s",
        b"uvcvideo",
        b"HD Webcam",
        b"usb-0000:00:14.0-1",
        1,
        0x84A00001,
        0x04200001,
        b"",
    )
    info = parse_querycap(raw)
    assert info == {
        "name": "HD Webcam",
        "driver": "uvcvideo",
        "bus": "usb-0000:00:14.0-1",
        "capture": True,
    }
    meta = struct.pack(
        "=16s32s32sIII12s", b"uvcvideo", b"HD Webcam", b"b", 1, 0x84A00001, 0x04A00000, b""
    )
    assert parse_querycap(meta)["capture"] is False
    with pytest.raises(ValueError):
        parse_querycap(b"short")
