"""Source throughput: conveyor rendering and video decoding, with same-run baselines.

Run: .venv/bin/python -m tests.benchmarks.bench_sources [--seconds 2]
Prints JSON. Never fails on timing.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from edgeconsole.sources.conveyor import ConveyorScene
from edgeconsole.sources.demo_video import write_conveyor_video
from edgeconsole.sources.video_file import VideoFileSource


def rate(fn: object, seconds: float) -> float:
    assert callable(fn)
    n, t0 = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - t0) < seconds:
        fn()
        n += 1
    return n / elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=2.0)
    args = ap.parse_args()
    w, h = 1280, 720
    scene = ConveyorScene(seed=0, width=w, height=h)
    counter = iter(range(10**9))
    scene.render(0)
    conveyor_fps = rate(lambda: scene.render(next(counter)), args.seconds)
    src = np.zeros((h, w, 3), np.uint8)
    copy_fps = rate(lambda: np.copy(src), args.seconds)
    with tempfile.TemporaryDirectory() as tmp:
        video = write_conveyor_video(Path(tmp) / "bench.avi", seconds=4, fps=30, size=(h, w))
        t0 = time.perf_counter()
        frames = 0
        with VideoFileSource(video, realtime=False, loop=True) as vs:
            while time.perf_counter() - t0 < args.seconds and vs.read() is not None:
                frames += 1
        decode_fps = frames / (time.perf_counter() - t0)
    print(
        json.dumps(
            {
                "size": f"{w}x{h}",
                "conveyor_render_fps": round(conveyor_fps, 1),
                "baseline_np_copy_fps": round(copy_fps, 1),
                "conveyor_vs_copy_ratio": round(conveyor_fps / copy_fps, 4),
                "video_decode_fps_mjpg_avi": round(decode_fps, 1),
                "video_decode_vs_copy_ratio": round(decode_fps / copy_fps, 4),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
