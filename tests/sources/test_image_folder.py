from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeconsole.core.errors import ConfigError, SourceOpenError
from edgeconsole.sources.image_folder import ImageFolderSource


def make_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "imgs"
    folder.mkdir()
    cv2.imwrite(str(folder / "b_002.png"), np.full((40, 60, 3), 20, np.uint8))
    cv2.imwrite(str(folder / "a_001.jpg"), np.full((30, 50, 3), 200, np.uint8))
    cv2.imwrite(str(folder / "c_003.bmp"), np.full((70, 20), 90, np.uint8))  # grey
    cv2.imwrite(str(folder / "d_004.png"), np.full((10, 10, 4), 128, np.uint8))  # BGRA
    (folder / "c_0025.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (folder / "readme.txt").write_text("ignored")
    return folder


def test_sorted_mixed_sizes_and_skips(tmp_path: Path) -> None:
    folder = make_folder(tmp_path)
    src = ImageFolderSource(folder, realtime=False)
    src.open()
    frames = []
    while (f := src.read()) is not None:
        frames.append(f)
    assert [f.image.shape for f in frames] == [(30, 50, 3), (40, 60, 3), (70, 20, 3), (10, 10, 3)]
    assert [f.index for f in frames] == [0, 1, 2, 3]
    assert all(f.image.dtype == np.uint8 for f in frames)
    assert src.skipped == [str(folder / "c_0025.jpg")]
    assert src.describe()["skipped"] == 1 and src.state == "ended"


def test_loop(tmp_path: Path) -> None:
    folder = make_folder(tmp_path)
    with ImageFolderSource(folder, realtime=False, loop=True) as src:
        frames = [src.read() for _ in range(10)]
    assert all(f is not None for f in frames)
    assert frames[4] is not None and frames[4].image.shape == (30, 50, 3)
    assert src.skipped == [str(folder / "c_0025.jpg")]  # counted once


def test_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(SourceOpenError) as e:
        ImageFolderSource(tmp_path).open()
    assert "no images" in str(e.value) and str(tmp_path) in str(e.value)


def test_only_unreadable_images(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (tmp_path / "b.jpg").write_bytes(b"")
    (tmp_path / "c.bmp").write_bytes(b"BM" + b"\x00" * 10)
    src = ImageFolderSource(tmp_path)
    with pytest.raises(SourceOpenError) as e:
        src.open()
    assert "none of the 3 images" in str(e.value)
    assert len(src.skipped) == 3


def test_missing_and_not_a_folder(tmp_path: Path) -> None:
    with pytest.raises(SourceOpenError):
        ImageFolderSource(tmp_path / "gone").open()
    f = tmp_path / "file.png"
    f.write_bytes(b"x")
    with pytest.raises(SourceOpenError):
        ImageFolderSource(f).open()
    with pytest.raises(ConfigError):
        ImageFolderSource(tmp_path, fps=0)


def test_close_unblocks_paced_read(tmp_path: Path) -> None:
    folder = make_folder(tmp_path)
    src = ImageFolderSource(folder, fps=0.1, realtime=True)
    assert src.read() is not None  # opens on first read
    started = threading.Event()
    out: list[object] = []

    def reader() -> None:
        started.set()
        out.append(src.read())

    t = threading.Thread(target=reader)
    t.start()
    assert started.wait(5)
    src.close()
    t.join(5)
    assert not t.is_alive() and out == [None]
