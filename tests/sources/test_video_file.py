from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from edgeconsole.core.errors import SourceOpenError
from edgeconsole.core.source import FrameSource
from edgeconsole.sources.demo_video import write_conveyor_video
from edgeconsole.sources.video_file import VideoFileSource


def read_all(src: VideoFileSource, limit: int = 10_000) -> list:
    frames = []
    while len(frames) < limit and (f := src.read()) is not None:
        frames.append(f)
    return frames


def test_reads_every_frame_with_stamps(conveyor_video: Path) -> None:
    src = VideoFileSource(conveyor_video, realtime=False)
    assert isinstance(src, FrameSource)
    src.open()
    assert src.state == "open"
    d = src.describe()
    assert d["kind"] == "file" and d["width"] == 320 and d["height"] == 180
    assert d["fps"] == pytest.approx(30.0) and d["frames"] == 60
    frames = read_all(src)
    assert len(frames) == 60
    assert [f.index for f in frames] == list(range(60))
    for f in frames:
        assert f.image.shape == (180, 320, 3) and f.image.dtype == np.uint8
        assert f.source == "conveyor.avi"
        assert f.capture_started_ns is not None and f.capture_started_ns <= f.captured_ns
    assert all(a.captured_ns <= b.captured_ns for a, b in itertools.pairwise(frames))
    assert src.state == "ended" and src.warnings == []
    assert src.read() is None
    src.close()
    assert src.state == "closed"


def test_realtime_paces_at_file_fps(conveyor_video: Path) -> None:
    with VideoFileSource(conveyor_video, realtime=True) as src:
        first = src.read()
        for _ in range(9):
            last = src.read()
        assert first is not None and last is not None
        # 9 intervals at 30 fps; the schedule is absolute so it cannot be shorter.
        assert (last.captured_ns - first.captured_ns) / 1e9 >= 9 / 30 * 0.9


def test_loop_restarts(conveyor_video: Path) -> None:
    with VideoFileSource(conveyor_video, realtime=False, loop=True) as src:
        frames = read_all(src, limit=130)
    assert len(frames) == 130
    assert [f.index for f in frames] == list(range(130))
    assert np.array_equal(frames[0].image, frames[60].image)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.mp4"
    with pytest.raises(SourceOpenError) as e:
        VideoFileSource(path).open()
    assert str(path) in str(e.value) and "not found" in str(e.value)


def test_text_file_renamed_mp4(tmp_path: Path) -> None:
    path = tmp_path / "notes.mp4"
    path.write_text("these are not frames\n" * 100)
    with pytest.raises(SourceOpenError) as e:
        VideoFileSource(path).open()
    assert str(path) in str(e.value) and e.value.hint


def test_empty_file_and_folder(tmp_path: Path) -> None:
    empty = tmp_path / "empty.avi"
    empty.write_bytes(b"")
    with pytest.raises(SourceOpenError):
        VideoFileSource(empty).open()
    with pytest.raises(SourceOpenError) as e:
        VideoFileSource(tmp_path).open()
    assert "folder" in str(e.value)


def test_truncated_video_ends_cleanly(conveyor_video: Path, tmp_path: Path) -> None:
    data = conveyor_video.read_bytes()
    cut = tmp_path / "half.avi"
    cut.write_bytes(data[: len(data) // 2])
    src = VideoFileSource(cut, realtime=False)
    src.open()
    frames = read_all(src, limit=1000)
    assert 0 < len(frames) < 60
    assert src.state == "ended"
    assert any("truncated" in w for w in src.warnings)
    src.close()


def test_header_only_video_is_an_open_error(conveyor_video: Path, tmp_path: Path) -> None:
    cut = tmp_path / "stub.avi"
    cut.write_bytes(conveyor_video.read_bytes()[:3000])
    with pytest.raises(SourceOpenError):
        VideoFileSource(cut).open()


def test_close_from_another_thread_unblocks_paced_read(tmp_path: Path) -> None:
    # One frame every 10 s: the second read waits on the pacer.
    slow = write_conveyor_video(tmp_path / "slow.avi", seconds=20, fps=0.1, size=(48, 64))
    src = VideoFileSource(slow, realtime=True)
    src.open()
    assert src.nominal_fps == pytest.approx(0.1)
    assert src.read() is not None
    waiting = threading.Event()
    result: list[object] = []

    def reader() -> None:
        waiting.set()
        result.append(src.read())

    t = threading.Thread(target=reader)
    t0 = time.monotonic()
    t.start()
    assert waiting.wait(5)
    src.close()
    t.join(5)
    assert not t.is_alive()
    assert result == [None]
    assert time.monotonic() - t0 < 5  # far less than the 10 s pacing interval
