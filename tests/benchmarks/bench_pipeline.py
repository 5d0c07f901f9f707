"""Pipeline overhead: the full live pipeline from a video file against bare session.run.

Both halves run in this process, same model, same thread count, one after the
other, so the ratio holds on a noisy shared machine:

  (a) bare: the label inspector's models on pre-made inputs in a tight loop —
      the detector on a preprocessed frame and the orientation classifier on a
      batch as large as the frames' median number of text regions;
  (b) pipeline: ``run_headless`` on a conveyor video read as fast as the model
      allows (lossless), capture → preprocess → infer → postprocess → overlay.

Prints JSON: both throughputs and pipeline/bare (goal ≥ 0.9 when inference dominates).
Run: .venv/bin/python -m tests.benchmarks.bench_pipeline [--frames 60] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from edgeconsole.core.clock import now_ns
from edgeconsole.core.frames import Frame
from edgeconsole.inference.engine import InferenceEngine
from edgeconsole.inference.loader import load_model
from edgeconsole.inference.preprocess import preprocess_image
from edgeconsole.session.headless import run_headless
from edgeconsole.session.session import default_demo_model
from edgeconsole.sources.demo_video import write_conveyor_video
from edgeconsole.sources.factory import open_source


def bare_fps(video: Path, frames: int, threads: int) -> tuple[float, int]:
    spec = load_model(default_demo_model())
    engine = InferenceEngine.load(spec, threads=threads)
    src = open_source(str(video), realtime=False)
    src.open()
    images = []
    while len(images) < frames:
        f = src.read()
        if f is None:
            break
        images.append(f.image)
    src.close()
    # Median number of text regions per frame: the classifier's batch size.
    regions = []
    for i, img in enumerate(images[:10]):
        r = engine.process(Frame(index=i, image=img, captured_ns=now_ns(), source="bench"))
        regions.append(sum(1 for d in r.detections if d.kind == "text"))
    batch = max(1, int(statistics.median(regions)))
    tensor, _ = preprocess_image(images[len(images) // 2], spec.preprocess)
    secondary = engine._secondary[0] if engine._secondary else None
    cls_input = np.zeros((batch, 3, 48, 192), np.float32)
    for _ in range(3):  # warm-up, as the pipeline's first inference is reported apart
        engine.run_tensor(tensor)
    t0 = time.perf_counter()
    for _ in range(len(images)):
        engine.run_tensor(tensor)
        if secondary is not None:
            secondary.run(cls_input)
    elapsed = time.perf_counter() - t0
    engine.close()
    return len(images) / elapsed, batch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=720)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "conveyor.avi"
        write_conveyor_video(video, args.frames / 10, 10, 5, (args.height, args.width))
        bare, batch = bare_fps(video, args.frames, args.threads)
        summary, _ = run_headless(
            str(video), default_demo_model(), threads=args.threads, journal=False
        )
        # The pipeline's first frame includes graph warm-up; count it out like the bare loop.
        timed = summary["frames"] - 1
        e2e_fps = summary["fps"]
        infer_p50 = summary["stages"]["infer"]["p50"]
        post_p50 = summary["stages"]["postprocess"]["p50"]
        print(
            json.dumps(
                {
                    "benchmark": "pipeline_vs_bare_session_run",
                    "model": "label-inspector (det + orientation)",
                    "frame_size": [args.width, args.height],
                    "threads": args.threads,
                    "frames": summary["frames"],
                    "classifier_batch": batch,
                    "bare_fps": round(bare, 2),
                    "pipeline_fps": round(e2e_fps, 2),
                    "ratio_pipeline_over_bare": round(e2e_fps / bare, 3),
                    "timed_frames": timed,
                    "pipeline_stage_p50_ms": {k: v["p50"] for k, v in summary["stages"].items()},
                    "infer_share_of_stages": round(
                        infer_p50 / sum(v["p50"] or 0 for v in summary["stages"].values()), 3
                    ),
                    "postprocess_p50_ms": post_p50,
                    "dropped": summary["dropped"],
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
