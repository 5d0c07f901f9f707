"""Pipeline overhead: the full live pipeline from a video file against bare session.run.

Both halves run in this process, same model, same thread count, one after the
other, so the ratio holds on a noisy shared machine:

  (a) bare: the demo model's onnxruntime sessions on exactly the tensors the engine
      fed them for these frames (recorded in one pass), in a tight loop: for a
      per-part model the detector or classifier on the parts' crops, then the
      orientation classifier on their text lines;
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
from edgeconsole.inference.engine import InferenceEngine, ModelRunner
from edgeconsole.inference.loader import load_model
from edgeconsole.session.headless import run_headless
from edgeconsole.sources.demo_video import write_conveyor_video
from edgeconsole.sources.factory import open_source


def frame_mode_model(folder: Path) -> Path:
    """The label inspector judged per frame (its description before ``per_part``), in
    ``folder``: a per-part model runs in parts mode, one decision per part, which is
    not what this benchmark compares (bench_partqc.py measures per-part decisions)."""
    from tests.benchmarks.bench_partqc import ROOT, full_frame_spec

    folder.mkdir(parents=True, exist_ok=True)
    for name in ("det.onnx", "cls.onnx"):
        (folder / name).write_bytes((ROOT / "label_inspector" / name).read_bytes())
    obj = full_frame_spec().to_json()
    obj.pop("golden", None)
    if "orientation" in obj["head"]:
        obj["head"]["orientation"].pop("golden", None)
    (folder / "model.json").write_text(json.dumps(obj))
    return folder


def bare_fps(model: Path, video: Path, frames: int, threads: int) -> tuple[float, int]:
    """Throughput of bare ``session.run`` on exactly the tensors the engine feeds.

    One pass of the engine over the frames records every model call (the detector
    on the frame or on the parts' label crops, the orientation classifier on the
    text lines) by wrapping ``ModelRunner.run`` before the models are opened; the
    timed loop then replays those tensors straight into the onnxruntime sessions.
    Returns frames/s and the median number of model calls per frame.
    """
    spec = load_model(model)
    src = open_source(str(video), realtime=False)
    src.open()
    images = []
    while len(images) < frames:
        f = src.read()
        if f is None:
            break
        images.append(f.image)
    src.close()
    calls: list[tuple[ModelRunner, np.ndarray]] = []
    real_run = ModelRunner.run

    def recording_run(self: ModelRunner, tensor: np.ndarray) -> dict[str, np.ndarray]:
        calls.append((self, tensor))
        return real_run(self, tensor)

    ModelRunner.run = recording_run  # type: ignore[method-assign]
    try:
        engine = InferenceEngine.load(spec, threads=threads)
        per_frame: list[list[tuple[ModelRunner, np.ndarray]]] = []
        for i, img in enumerate(images):
            calls.clear()
            engine.process(Frame(index=i, image=img, captured_ns=now_ns(), source="bench"))
            per_frame.append(list(calls))
    finally:
        ModelRunner.run = real_run  # type: ignore[method-assign]
    feeds = [
        [(r.session, r.output_names, {r.input.name: t}) for r, t in frame_calls]
        for frame_calls in per_frame
    ]
    for sess, names, feed in feeds[0] * 3:  # warm-up, as the pipeline's first inference
        sess.run(names, feed)
    t0 = time.perf_counter()
    for frame_feeds in feeds:
        for sess, names, feed in frame_feeds:
            sess.run(names, feed)
    elapsed = time.perf_counter() - t0
    engine.close()
    return len(images) / elapsed, int(statistics.median(len(c) for c in per_frame))


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
        model = frame_mode_model(Path(tmp) / "label_inspector_frames")
        bare, batch = bare_fps(model, video, args.frames, args.threads)
        summary, _ = run_headless(str(video), model, threads=args.threads, journal=False)
        # The pipeline's first frame includes graph warm-up; count it out like the bare loop.
        timed = summary["frames"] - 1
        e2e_fps = summary["fps"]
        infer_p50 = summary["stages"]["infer"]["p50"]
        post_p50 = summary["stages"]["postprocess"]["p50"]
        print(
            json.dumps(
                {
                    "benchmark": "pipeline_vs_bare_session_run",
                    "model": "label inspector, judged per frame (det on the frame + orientation)",
                    "frame_size": [args.width, args.height],
                    "threads": args.threads,
                    "frames": summary["frames"],
                    "model_calls_per_frame": batch,
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
