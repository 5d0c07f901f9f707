from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeconsole.core.errors import ConfigError, SourceOpenError
from edgeconsole.core.source import FrameSource
from edgeconsole.sources.camera import CameraSource
from edgeconsole.sources.conveyor import SyntheticConveyorSource
from edgeconsole.sources.factory import describe_spec, open_source, parse_spec
from edgeconsole.sources.image_folder import ImageFolderSource
from edgeconsole.sources.network_video import StreamSource
from edgeconsole.sources.video_file import VideoFileSource


def test_video_file(conveyor_video: Path) -> None:
    src = open_source(str(conveyor_video), realtime=False)
    assert isinstance(src, VideoFileSource) and isinstance(src, FrameSource)
    assert src.realtime is False
    f = src.read()
    assert f is not None and f.image.shape == (180, 320, 3)
    src.close()
    assert describe_spec(str(conveyor_video)) == "conveyor.avi"
    assert isinstance(open_source(f"file://{conveyor_video}"), VideoFileSource)


def test_folder(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((8, 8, 3), np.uint8))
    src = open_source(str(tmp_path), realtime=False, loop=True)
    assert isinstance(src, ImageFolderSource) and src.loop
    assert src.read() is not None
    src.close()
    assert describe_spec(str(tmp_path)).startswith("Folder ")


def test_missing_path_fails_at_open(tmp_path: Path) -> None:
    src = open_source(str(tmp_path / "missing.mp4"))
    with pytest.raises(SourceOpenError):
        src.open()


@pytest.mark.parametrize("spec", ["camera:3", "3", " 3 "])
def test_camera(spec: str) -> None:
    src = open_source(spec)
    assert isinstance(src, CameraSource) and src.index == 3
    assert describe_spec(spec) == "Camera 3"


@pytest.mark.parametrize(
    "spec", ["rtsp://10.0.0.5:554/live", "http://127.0.0.1:8080/x.mjpg", "https://cam/s"]
)
def test_stream(spec: str) -> None:
    assert isinstance(open_source(spec), StreamSource)
    assert describe_spec(spec).split()[0] in ("RTSP", "HTTP", "HTTPS")


def test_synthetic() -> None:
    src = open_source(
        "synthetic:conveyor?seed=1&fps=15&width=320&height=180&frames=3", realtime=False
    )
    assert isinstance(src, SyntheticConveyorSource)
    assert src.describe()["seed"] == 1 and src.nominal_fps == 15
    frames = []
    while (f := src.read()) is not None:
        frames.append(f)
    assert len(frames) == 3 and frames[0].image.shape == (180, 320, 3)
    assert isinstance(open_source("synthetic:conveyor"), SyntheticConveyorSource)
    assert describe_spec("synthetic:conveyor?seed=7") == "Synthetic conveyor (seed 7)"


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "   ",
        "camera:",
        "camera:x",
        "camera:-1",
        "camera:99999",
        "camra:0",
        "ftp://host/file",
        "http://",
        "http://host:notaport/x",
        "rtsp:/nohost",
        "synthetic:",
        "synthetic:forest",
        "synthetic:conveyor?seed=abc",
        "synthetic:conveyor?colour=red",
        "synthetic:conveyor?seed=1&seed=2",
        "synthetic:conveyor?fps=0",
        "synthetic:conveyor?fps=inf",
        "synthetic:conveyor?fps=nan",
        "synthetic:conveyor?width=10",
        "synthetic:conveyor?frames=-4",
        "synthetic:conveyor?&&=",
        "picture.png",
        "a\0b",
    ],
)
def test_malformed_specs(spec: str) -> None:
    with pytest.raises(ConfigError) as e:
        open_source(spec)
    assert "camera:N" in str(e.value)  # the accepted forms are listed, or the range
    assert isinstance(describe_spec(spec), str)


def test_parse_spec_kinds(tmp_path: Path) -> None:
    assert parse_spec("0").kind == "camera"
    assert parse_spec(str(tmp_path)).kind == "folder"
    assert parse_spec("video.avi").kind == "file"
