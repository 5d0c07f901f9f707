"""Frames made ready for the window's screen off its thread (session/display.py)."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edgeconsole.session.display import DisplayPrep, fit_size, to_display
from edgeconsole.session.poll import STATS_INTERVAL_S
from edgeconsole.session.session import Session
from tests.fixtures.onnx_models import colour_classifier_json
from tests.fixtures.sources import wait_for

SMALL_CONVEYOR = "synthetic:conveyor?seed=3&width=640&height=360"


@pytest.mark.parametrize(
    ("image", "area", "size"),
    [
        ((1280, 720), (1309, 505), (898, 505)),  # wide view: height decides
        ((1280, 720), (640, 1000), (640, 360)),  # tall view: width decides
        ((640, 360), (1280, 720), (1280, 720)),  # grows
        ((0, 720), (100, 100), (0, 0)),
        ((640, 360), (0, 100), (0, 0)),
    ],
)
def test_fit_size_keeps_the_aspect_in_whole_pixels(
    image: tuple[int, int], area: tuple[int, int], size: tuple[int, int]
) -> None:
    assert fit_size(*image, *area) == size


def test_to_display_is_the_scaled_frame_as_32_bit_pixels() -> None:
    rng = np.random.default_rng(1)
    bgr = rng.integers(0, 256, (72, 128, 3), dtype=np.uint8)
    out = to_display(bgr, (64, 36))
    assert out.shape == (36, 64, 4) and out.dtype == np.uint8 and out.flags.c_contiguous
    assert (out[..., 3] == 255).all()
    want = cv2.resize(bgr, (64, 36), interpolation=cv2.INTER_LINEAR)
    assert np.array_equal(out[..., :3], want)  # B, G, R in that order
    same = to_display(bgr, (128, 72))  # no scaling: the pixels themselves
    assert np.array_equal(same[..., :3], bgr)
    grey = to_display(np.full((10, 20), 77, np.uint8), (20, 10))
    assert (grey[..., :3] == 77).all() and (grey[..., 3] == 255).all()
    bgra = np.zeros((10, 20, 4), np.uint8)
    bgra[..., 2] = 200
    red = to_display(bgra, (20, 10))
    assert (red[..., 2] == 200).all() and (red[..., 3] == 255).all()
    assert (bgra[..., 3] == 0).all()  # the caller's frame is not written to


def test_newest_offer_wins_and_a_stale_epoch_is_not_published() -> None:
    lock = threading.Lock()
    published: list[tuple[Any, int, Any]] = []
    gate = threading.Event()

    def publish(live: Any, epoch: int, pixels: Any) -> None:
        gate.wait(10)  # holds the thread while more frames are offered
        published.append((live, epoch, pixels))

    prep = DisplayPrep(lock, publish)
    frame = np.zeros((36, 64, 3), np.uint8)
    try:
        assert not prep.offer("no window yet", frame, 0)
        prep.set_area((32, 32))
        assert prep.offer("first", frame, 0)
        assert wait_for(lambda: prep.prepared == 0 and prep._pending is None, 10)
        for name in ("second", "third", "newest"):
            prep.offer(name, frame, 0)
        gate.set()
        assert wait_for(lambda: len(published) == 2, 10)
        assert [p[0] for p in published] == ["first", "newest"]
        assert prep.skipped == 2
        assert published[1][2].shape == (18, 32, 4)
    finally:
        gate.set()
        prep.close()
    assert not prep.offer("after close", frame, 0)


def test_a_session_hands_frames_at_the_windows_size(tmp_path: Path) -> None:
    colour_classifier_json(tmp_path)
    session = Session(worker=False)
    try:
        session.set_display_area(320, 320)
        session.start_local(SMALL_CONVEYOR, tmp_path, realtime=False, loop=True)
        lives: list[Any] = []
        stats: list[Any] = []

        def step() -> bool:
            u = session.poll()
            if u.live is not None:
                lives.append(u.live)
            if u.status.state == "running":
                stats.append((time.monotonic(), u.stats))
            return len(lives) >= 5

        assert wait_for(step, 60), session.poll().status
        for live in lives:
            assert live.display is not None and live.display.shape == (180, 320, 4)
            want = to_display(live.frame.image, (320, 180))
            assert np.array_equal(live.display, want)  # this frame's pixels, not another's
            assert live.result is not None and live.result.frame_index == live.frame.index
        # While running, the stats are summed up at most every STATS_INTERVAL_S.
        assert len(stats) >= 5 and any(s is None for _, s in stats)
        made = [t for t, s in stats if s is not None]
        assert all(b - a >= STATS_INTERVAL_S * 0.9 for a, b in itertools.pairwise(made))
        session.set_display_area(0, 0)  # no window: frames as they come
        n = len(lives)
        assert wait_for(lambda: step() and len(lives) >= n + 3, 60)
        assert lives[-1].display is None
    finally:
        session.close()


def test_display_work_runs_below_the_windows_priority() -> None:
    """The thread is started from the window's thread; its resize must never take a
    core from the event loop (issue 15): it runs niced."""
    import os

    tids: list[int] = []
    prep = DisplayPrep(
        threading.Lock(), lambda live, epoch, pixels: tids.append(threading.get_native_id())
    )
    try:
        prep.set_area((32, 32))
        prep.offer("frame", np.zeros((36, 64, 3), np.uint8), 0)
        assert wait_for(lambda: len(tids) == 1, 10)
        mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        assert os.getpriority(os.PRIO_PROCESS, tids[0]) > mine or mine == 19
    finally:
        prep.close()
