from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from edgeconsole.core.errors import ConfigError
from edgeconsole.sources.demo_video import write_conveyor_video
from edgeconsole.sources.video_file import VideoFileSource


def test_writes_deterministic_readable_video(tmp_path: Path) -> None:
    a = write_conveyor_video(tmp_path / "a.avi", seconds=0.5, fps=20, seed=2, size=(90, 160))
    b = write_conveyor_video(tmp_path / "b.avi", seconds=0.5, fps=20, seed=2, size=(90, 160))
    assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()
    with VideoFileSource(a, realtime=False) as src:
        d = src.describe()
        n = 0
        while src.read() is not None:
            n += 1
    assert (d["width"], d["height"], d["frames"]) == (160, 90, 10) and n == 10


def test_mp4(tmp_path: Path) -> None:
    p = write_conveyor_video(tmp_path / "c.mp4", seconds=0.2, fps=10, size=(90, 160))
    with VideoFileSource(p, realtime=False) as src:
        assert src.read() is not None


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        write_conveyor_video(tmp_path / "x.mkv", seconds=1)
    with pytest.raises(ConfigError):
        write_conveyor_video(tmp_path / "x.avi", seconds=0)
