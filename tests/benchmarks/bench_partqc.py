"""Per-part decision cost against its baselines, measured in one run (issue 12).

Two comparisons, each interleaved frame by frame so a noisy shared machine loads both
halves alike:

  (a) fast bundle (sample_models/label_orientation): the decision for the part at the
      trigger line (``locate`` on the whole frame + ``decide`` on that part: label
      crop, text lines, one classifier batch, verdict) against the bare classifier
      (``session.run``) on exactly the tensor that decision fed it;
  (b) label inspector (sample_models/label_inspector): the same per-part decision
      (text detection on the label crop, orientation of its lines) against the
      full-frame inspector as it was before ``per_part`` (detector on the whole frame,
      long side 960, then orientation and the parts stage).

Frames come from the synthetic conveyor at ``--ppm`` parts/min. ``--busy N`` runs N
busy-loop processes for the length of the run (one core busy: ``--busy 1`` on this
2-core machine); they are stopped before the JSON is printed.

Prints JSON: p50/p90/p99/max of each side (wall time, and ``cpu_ms``: this thread's CPU
time, what the work costs one core whatever else runs), per-stage figures of the
decisions, and the ratios decision_p99 / bare_classifier_p99 and per_part_p99 /
full_frame_p99.

Run: .venv/bin/python -m tests.benchmarks.bench_partqc [--frames 300] [--threads 1]
     [--ppm 300] [--busy 0]
"""

from __future__ import annotations

import argparse
import copy
import json
import multiprocessing as mp
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from edgeconsole.core.frames import Frame
from edgeconsole.inference.engine import InferenceEngine
from edgeconsole.inference.loader import load_model
from edgeconsole.inference.part_inspector import DECIDE_STAGES, PartInspector
from edgeconsole.inference.spec import ModelSpec
from edgeconsole.sources.conveyor import ConveyorScene

ROOT = Path(__file__).resolve().parents[2] / "sample_models"


def _busy() -> None:
    while True:
        pass


@contextmanager
def busy(n: int) -> Iterator[None]:
    procs = [mp.Process(target=_busy, daemon=True) for _ in range(n)]
    for p in procs:
        p.start()
    try:
        yield
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.join(5)


def stats(ms: list[float]) -> dict[str, float | int]:
    a = np.sort(np.asarray(ms, dtype=np.float64))
    if a.size == 0:
        return {"n": 0}

    def pct(q: float) -> float:
        return round(float(a[max(0, int(np.ceil(a.size * q / 100)) - 1)]), 3)  # nearest rank

    return {"n": int(a.size), "p50": pct(50), "p90": pct(90), "p99": pct(99), "max": pct(100)}


def trigger_frames(ppm: float, n: int) -> list[np.ndarray]:
    """Frames in which a complete part is nearest the centre line (a trigger fires)."""
    scene = ConveyorScene(seed=0, parts_per_min=ppm)
    out: list[np.ndarray] = []
    i = 0
    while len(out) < n and i < 100 * n:
        img, truth = scene.render(i)
        i += 1
        if any(p["complete"] for p in truth["parts"]):
            out.append(img)
    return out


def nearest_centre(insp: PartInspector, img: np.ndarray) -> tuple[float, float, float, float]:
    parts = [p for p in insp.locate(img) if p.complete]
    cx = img.shape[1] / 2
    return min(parts, key=lambda p: abs(p.centre[0] - cx)).box


def decision_tensor(insp: PartInspector, img: np.ndarray, box: Any) -> np.ndarray | None:
    """The tensor the decision fed the main model (recomputed outside the timing)."""
    fed: list[np.ndarray] = []
    real = insp.runner.run

    def spy(t: np.ndarray) -> dict[str, np.ndarray]:
        fed.append(t)
        return real(t)

    insp.runner.run = spy  # type: ignore[method-assign]
    try:
        insp.decide(img, [box])
    finally:
        del insp.runner.run
    return fed[0] if fed else None


#: CPU time of this thread for every ``timed`` call, in the same order (ms).
CPU_MS: list[float] = []


def timed(fn: Callable[[], object]) -> float:
    """Wall time of ``fn`` (ms); its CPU time on this thread goes to CPU_MS.

    With one intra-op thread onnxruntime computes on the calling thread, so the CPU
    time is what the work costs a core, whatever else the machine runs; the wall
    time adds the waiting for a core that a shared machine imposes.
    """
    c0, t0 = time.thread_time_ns(), time.perf_counter_ns()
    fn()
    t1, c1 = time.perf_counter_ns(), time.thread_time_ns()
    CPU_MS.append((c1 - c0) / 1e6)
    return (t1 - t0) / 1e6


def decide_one(insp: PartInspector, img: np.ndarray, stage_ms: dict[str, list[float]]) -> None:
    st: dict[str, int] = {}
    parts = [p for p in insp.locate(img, st) if p.complete]
    cx = img.shape[1] / 2
    box = min(parts, key=lambda p: abs(p.centre[0] - cx)).box
    insp.decide(img, [box], st)
    for s in ("locate", *DECIDE_STAGES):
        stage_ms.setdefault(s, []).append((st[f"{s}_end"] - st[f"{s}_start"]) / 1e6)


def fast_vs_bare(frames: list[np.ndarray], threads: int) -> dict[str, Any]:
    spec = load_model(ROOT / "label_orientation")
    insp = PartInspector.load(spec, threads=threads)
    session = insp.runner.session
    inp = spec.inputs[0].name
    tensors = []
    for img in frames:
        t = decision_tensor(insp, img, nearest_centre(insp, img))
        tensors.append(t)
    for img in frames[:5]:  # warm-up: first runs allocate
        decide_one(insp, img, {})
    decision, modelled, bare, stage_ms = [], [], [], {}  # type: ignore[var-annotated]
    cpu_decision, cpu_modelled, cpu_bare = [], [], []
    for img, t in zip(frames, tensors, strict=True):
        ms = timed(lambda img=img: decide_one(insp, img, stage_ms))
        decision.append(ms)
        cpu_decision.append(CPU_MS[-1])
        if t is not None:  # a missing or smudged label is decided without the model
            modelled.append(ms)
            cpu_modelled.append(CPU_MS[-1])
            bare.append(timed(lambda t=t: session.run(None, {inp: t})))
            cpu_bare.append(CPU_MS[-1])
    batch = [int(t.shape[0]) for t in tensors if t is not None]
    insp.close()
    d, m, b = stats(decision), stats(modelled), stats(bare)
    cm, cb = stats(cpu_modelled), stats(cpu_bare)
    return {
        "cpu_ms": {
            "decision": stats(cpu_decision),
            "decision_with_model": cm,
            "bare_classifier": cb,
            "ratio_decision_p99_over_bare_p99": round(float(cm["p99"]) / float(cb["p99"]), 3)
            if cb.get("p99")
            else None,
        },
        "model": "label-orientation (locator + PP-OCR orientation classifier)",
        "lines_per_decision": {"median": float(np.median(batch)) if batch else 0},
        "decision_ms": d,
        "decision_with_model_ms": m,
        "bare_classifier_ms": b,
        "decision_stages_ms": {k: stats(v) for k, v in stage_ms.items()},
        # Same parts on both sides: the decisions that ran the model vs the bare run.
        "ratio_decision_p99_over_bare_p99": round(float(m["p99"]) / float(b["p99"]), 3)
        if b.get("p99")
        else None,
        "ratio_decision_p50_over_bare_p50": round(float(m["p50"]) / float(b["p50"]), 3)
        if b.get("p50")
        else None,
        "decision_p99_under_5ms": bool(d["p99"] < 5.0),
    }


def full_frame_spec() -> ModelSpec:
    """The label inspector as it ran before per_part: the detector on the whole frame."""
    base = json.loads((ROOT / "label_inspector" / "model.json").read_text())
    obj = copy.deepcopy(base)
    del obj["per_part"]
    obj["inputs"][0]["shape"] = [1, 3, -1, -1]
    obj["outputs"][0]["shape"] = [1, 1, -1, -1]
    obj["preprocess"].update(resize="pad", max_side=960, multiple_of=32)
    del obj["preprocess"]["size"]
    obj["head"]["parts"].update(min_area=4000, max_area=200000, belt_threshold=140, edge_margin=1)
    return ModelSpec.parse(obj, ROOT / "label_inspector")


def inspector_per_part_vs_full(frames: list[np.ndarray], threads: int) -> dict[str, Any]:
    per_part = PartInspector.load(load_model(ROOT / "label_inspector"), threads=threads)
    full = InferenceEngine.load(full_frame_spec(), threads=threads)
    for img in frames[:3]:
        decide_one(per_part, img, {})
        full.process(Frame(index=0, image=img, captured_ns=0, source="bench"))
    part_ms, full_ms, stage_ms = [], [], {}  # type: ignore[var-annotated]
    cpu_part, cpu_full = [], []
    for i, img in enumerate(frames):
        part_ms.append(timed(lambda img=img: decide_one(per_part, img, stage_ms)))
        cpu_part.append(CPU_MS[-1])
        f = Frame(index=i, image=img, captured_ns=0, source="bench")
        full_ms.append(timed(lambda f=f: full.process(f)))
        cpu_full.append(CPU_MS[-1])
    per_part.close()
    full.close()
    p, f = stats(part_ms), stats(full_ms)
    cp, cf = stats(cpu_part), stats(cpu_full)
    return {
        "cpu_ms": {
            "per_part_decision": cp,
            "full_frame": cf,
            "ratio_per_part_p99_over_full_frame_p99": round(float(cp["p99"]) / float(cf["p99"]), 4),
        },
        "model": "label-inspector (PP-OCR detector + orientation)",
        "per_part_decision_ms": p,
        "per_part_stages_ms": {k: stats(v) for k, v in stage_ms.items()},
        "full_frame_ms": f,
        "ratio_per_part_p99_over_full_frame_p99": round(float(p["p99"]) / float(f["p99"]), 4),
        "ratio_per_part_p50_over_full_frame_p50": round(float(p["p50"]) / float(f["p50"]), 4),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=300, help="trigger frames (fast bundle)")
    ap.add_argument("--inspector-frames", type=int, default=60)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--ppm", type=float, default=300.0)
    ap.add_argument("--busy", type=int, default=0, help="busy-loop processes during the run")
    args = ap.parse_args()
    frames = trigger_frames(args.ppm, args.frames)
    with busy(args.busy):
        fast = fast_vs_bare(frames, args.threads)
        inspector = inspector_per_part_vs_full(frames[: args.inspector_frames], args.threads)
    print(
        json.dumps(
            {
                "benchmark": "per_part_decision_vs_baselines",
                "frame_size": [1280, 720],
                "parts_per_min": args.ppm,
                "threads": args.threads,
                "busy_processes": args.busy,
                "fast_bundle": fast,
                "label_inspector": inspector,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
